"""Every stored run re-runs to identical metrics on CPU (all but `seconds`): from the store by id, and from the
report's JSON export through `unlearn run --config`."""

from __future__ import annotations

import json

import pytest

from unlearn_core import cli
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.presets import metric_differences, rerun, run_config
from unlearn_core.report import report_json

# one-shot search (slug), seeded mini-batches (gradient_ascent), codes only (mnemonic)
METHODS = {"slug": {}, "gradient_ascent": {"epochs": 2}, "mnemonic": {}}


@pytest.fixture(scope="module")
def stored(lab, digits_base) -> dict[str, dict]:
    return {m: lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), m, p) for m, p in METHODS.items()}


@pytest.mark.parametrize("method", list(METHODS))
def test_rerun_from_the_store_gives_identical_metrics(lab, stored, method):
    first = stored[method]
    assert first["status"] == "ok", first["error"]
    again = rerun(lab, first["run_id"], store_run=False)
    assert again["status"] == "ok"
    assert again["params"] == first["params"]
    assert metric_differences(first["metrics"], again["metrics"]) == []


def test_rerun_from_exported_json_through_the_cli(lab, stored, tmp_path, capsys):
    export = json.loads(report_json(lab, [r["run_id"] for r in stored.values()]))
    runs = {r["method"]: r for r in export["scenarios"][0]["runs"]}
    assert set(runs) == set(METHODS)
    config = tmp_path / "run.json"
    config.write_text(json.dumps(runs["gradient_ascent"]))
    capsys.readouterr()
    assert cli.main(["run", "--config", str(config), "--device", "cpu", "--no-band", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["method"] == "gradient_ascent" and again["params"]["epochs"] == 2
    assert metric_differences(stored["gradient_ascent"]["metrics"], again["metrics"]) == []
    # the minimal configuration is enough too
    config.write_text(json.dumps(run_config(runs["slug"])))
    assert cli.main(["run", "--config", str(config), "--device", "cpu", "--no-band", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert metric_differences(stored["slug"]["metrics"], again["metrics"]) == []


def test_metric_differences_sees_nested_changes_and_ignores_run_time():
    a = {"forget_acc": 0.5, "seconds": 1.0, "privacy": {"attacks": {"loss_auc": 0.6}}, "per_class_acc": [1.0, 0.5]}
    b = {"forget_acc": 0.5, "seconds": 9.0, "privacy": {"attacks": {"loss_auc": 0.6}}, "per_class_acc": [1.0, 0.5]}
    assert metric_differences(a, b) == []
    b["privacy"]["attacks"]["loss_auc"] = 0.6000001
    b["per_class_acc"][1] = 0.25
    b["extra"] = 1
    assert metric_differences(a, b) == ["extra", "per_class_acc.1", "privacy.attacks.loss_auc"]
