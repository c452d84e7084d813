"""U-LiRA on a run of an imported checkpoint attacks that checkpoint's own models: the run's unlearned model, or
the imported original itself, with the run's retrain oracle; no base model is trained from the run's spec in
its place (that would attack a model the user never uploaded)."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.metrics.ulira import ULiRAConfig, forget_phi
from unlearn_core.store import Store
from unlearn_core.studies.ulira import ulira_for_run

EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=1)
FORGET = ForgetSpec(classes=(3,))
CFG = ULiRAConfig(shadow_pairs=2, shadow_epochs=1)


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory) -> tuple[Lab, str, str]:
    # the checkpoint comes from elsewhere (another workspace, another seed): its weights are not the ones
    # EXPERIMENT would train here
    elsewhere = Lab(Store(tmp_path_factory.mktemp("elsewhere")), device="cpu")
    foreign = elsewhere.base_model(experiment_from_args("digits", "cnn", 7, epochs=1))
    lab = Lab(Store(tmp_path_factory.mktemp("ws")), device="cpu")
    imported = lab.register_imported(EXPERIMENT, foreign.model.state_dict(), "test upload")
    record = lab.run(EXPERIMENT, FORGET, "finetune", {"epochs": 1}, seed=0, model_key=imported.key)
    assert record["status"] == "ok"
    return lab, record["run_id"], imported.key


def _no_fresh_base(monkeypatch: pytest.MonkeyPatch, lab: Lab) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("U-LiRA trained a base model from the spec instead of using the imported one")

    monkeypatch.setattr(lab, "base_model", refuse)


@pytest.mark.parametrize("original", [False, True], ids=["the run", "the imported original"])
def test_ulira_on_an_imported_run_attacks_the_imported_models(imported_run, monkeypatch, original):
    lab, run_id, key = imported_run
    _no_fresh_base(monkeypatch, lab)
    result = ulira_for_run(lab, run_id, CFG, original=original)
    imported = lab.stored_model(key)
    splits = Splits.build(lab.dataset(imported.spec), FORGET, lab.device)
    target = imported.model if original else lab.run_model(run_id)
    assert np.array_equal(result["phi"]["target"], forget_phi(target, splits))
    oracle = lab.retrain_oracle(imported, FORGET)  # the run's own oracle (keyed by the imported model)
    assert np.array_equal(result["phi"]["retrain"], forget_phi(oracle.model, splits))
    assert result["method"] == ("original" if original else "finetune")
    assert result["phi"]["shadow_unlearned"].shape == (CFG.shadow_pairs, len(splits.forget_idx))
    assert lab.store.list_models("base") == []  # nothing trained from the spec in the imported model's place
