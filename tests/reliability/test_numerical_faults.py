"""Numerical faults: a method that diverges (exploding loss, NaN/inf weights or buffers) is stopped and stored
as a failed run with its reason; no NaN ever reaches the stored JSON, the CLI's JSON or the Compare table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from relhelpers import run_cli

from unlearn_core import experiment
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import MethodConfig, MethodInfo, UnlearningMethod, UnlearnResult, get_method
from unlearn_core.store import Store

CLASS_3 = ForgetSpec(classes=(3,))


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity (which plain json accepts)."""
    def refuse(constant: str):
        raise AssertionError(f"{constant} in stored JSON")

    return json.loads(text, parse_constant=refuse)


def _no_non_finite(obj, path: str = "") -> None:
    if isinstance(obj, float):
        assert math.isfinite(obj), path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _no_non_finite(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _no_non_finite(v, f"{path}[{i}]")


class _Poison(UnlearningMethod):
    """Test double: 'unlearns' by writing a non-finite value into a weight or a buffer of the copy."""

    name = "poison"
    info = MethodInfo(title="poison (test double)", summary="writes NaN or inf into the model", paper="-",
                      family="baseline", needs_retain=False)
    Config = MethodConfig
    where = "weight"

    def unlearn(self, model, splits, artifacts, cfg, ctx) -> UnlearnResult:
        with torch.no_grad():
            if self.where == "weight":
                model.f2.weight[0, 0] = float("inf")
            else:  # a buffer, as a BatchNorm running variance would be
                model.register_buffer("running_scale", torch.tensor([1.0, float("nan")]))
        return UnlearnResult(model, {"history": [{"loss": float("nan")}]})


@pytest.fixture
def poison(monkeypatch):
    def lookup(name: str):
        return _Poison() if name == "poison" else get_method(name)

    monkeypatch.setattr(experiment, "get_method", lookup)
    return _Poison


def test_exploding_loss_is_stopped_and_stored_as_failed(private_lab, home: Path):
    record = private_lab.run(ExperimentSpec(), CLASS_3, "gradient_ascent", {"lr": 1.0, "epochs": 20})
    assert record["status"] == "failed" and record["metrics"] is None
    assert "diverged" in record["error"] and "loss became" in record["error"]
    store = Store(home)
    [row] = store.list_runs()
    assert row["status"] == "failed" and row["error"] == record["error"]
    stored = _strict_json((store.run_dir(row["id"]) / "result.json").read_text())
    assert stored["status"] == "failed" and stored["metrics"] is None
    assert store.load_run_state(row["id"]) is None  # diverged weights are not kept as a result


@pytest.mark.parametrize("where", ["weight", "buffer"])
def test_non_finite_weights_or_buffers_fail_the_run(private_lab, home: Path, poison, monkeypatch, where):
    monkeypatch.setattr(poison, "where", where)
    record = private_lab.run(ExperimentSpec(), CLASS_3, "poison")
    assert record["status"] == "failed" and "the method diverged" in record["error"]
    assert ("f2.weight" if where == "weight" else "running_scale") in record["error"]
    [row] = Store(home).list_runs()
    stored = _strict_json((Store(home).run_dir(row["id"]) / "result.json").read_text())
    assert stored["status"] == "failed"


def test_cli_json_of_a_diverged_run_is_strict_json(home: Path):
    result = run_cli("run", "--method", "gradient_ascent", "--forget-classes", "3", "--set", "lr=1.0", "--no-band",
                     "--json")
    assert result.code == 1  # the run failed (not bad input): exit 1 with the reason on stderr
    assert "diverged" in result.stderr.splitlines()[-1]
    record = _strict_json(result.stdout)
    assert record["status"] == "failed"
    _no_non_finite(record)


def test_metric_undefined_for_a_tiny_forget_set_is_null_not_a_failure(private_lab, home: Path):
    """The loss attack needs four forget images; with two it is undefined for every model, original included."""
    record = private_lab.run(ExperimentSpec(), ForgetSpec(indices=(1, 2)), "finetune", {"epochs": 1})
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["mia_loss_auc"] is None and record["original"]["mia_loss_auc"] is None
    assert any("undefined for this forget set" in n for n in record["notes"])
    _no_non_finite(record)
    json.dumps(record, allow_nan=False, default=str)
    _strict_json((Store(home).run_dir(record["run_id"]) / "result.json").read_text())


def test_compare_page_lists_failed_runs_with_reasons_and_shows_no_nan(private_lab, home: Path):
    from apphelpers import open_page

    private_lab.run(ExperimentSpec(), CLASS_3, "finetune", {"epochs": 1})
    private_lab.run(ExperimentSpec(), CLASS_3, "gradient_ascent", {"lr": 1.0})
    at = open_page("pages/compare.py")
    assert not at.exception and not at.error
    table = at.table[0].value
    # a run with non-default parameters is labelled by them, e.g. "finetune (epochs=1)"
    assert any(label.startswith("finetune") for label in table.index)
    assert not any(label.startswith("gradient_ascent") for label in table.index)
    assert "nan" not in table.to_string().lower() and "inf" not in table.to_string().lower()
    assert any("gradient_ascent** (failed): loss became" in w.value for w in at.warning)
