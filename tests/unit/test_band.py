"""The retrain band end to end on digits class 3: trained once and cached, re-derives stored verdicts, takes
U-LiRA in once computed; the challenge's forgetting quality on demand."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.metrics.signals import SIGNALS
from unlearn_core.studies.band import band_cost, band_for_record, train_band, ulira_evidence
from unlearn_core.studies.forgetting_quality import fq_cost, run_forgetting_quality

FORGET = ForgetSpec(classes=(3,))


@pytest.fixture(scope="module")
def stored(lab, digits_base) -> dict:
    return lab.run(ExperimentSpec(), FORGET, "gradient_ascent", {"epochs": 1})


def test_the_band_is_cached_and_calibrates_stored_runs(lab, digits_base, stored):
    assert stored["status"] == "ok", stored["error"]
    band = band_for_record(lab, stored, 2)
    assert band["k"] == 2 and band["retrain_seeds"] == [1, 2] and len(band["retrain_keys"]) == 2
    assert set(band["bands"]) == set(SIGNALS) - {"ulira"}
    assert band["bands"]["threshold_confidence"][0] == 0.5  # chance: the oracle against itself
    assert band_cost(lab, digits_base, FORGET, 2)["to_train"] == 0
    assert train_band(lab, digits_base, FORGET, 1) is not None  # a smaller K reuses the larger band
    calibrated = lab.calibrated(stored)
    verdict = calibrated["metrics"]["verdict"]
    assert verdict["band"] == {"k": 2, "retrain_seeds": [1, 2]} and verdict["label"] != "unverified"
    assert calibrated["original"]["verdict"]["label"] == "not forgotten"
    assert calibrated["retrain"]["verdict"]["label"] == "forgotten"
    if verdict["label"] == "forgotten":
        assert all(e["within"] is not False for e in verdict["evidence"])
    assert lab.run_record(stored["run_id"]).metrics["verdict"]["label"] == verdict["label"]


def test_ulira_counts_in_the_verdict_once_computed(lab, digits_base, stored):
    band_for_record(lab, stored, 2)
    n = stored["forget_summary"]["forget_size"]
    zeros = np.zeros(n)
    # an attack that calls everything "retrained": accuracy 0.5 on every example
    result = {"accuracy": 0.5, "per_example": {"accuracy": np.full(n, 0.5), "llr_retrained": zeros - 1,
                                              "mu_unlearned": zeros + 50, "sd_unlearned": zeros + 1,
                                              "mu_retrained": zeros, "sd_retrained": zeros + 1}}
    entry = ulira_evidence(lab, stored["run_id"], result)
    assert entry["value"] == 0.5 and entry["ci"] == [0.5, 0.5] and entry["band"][0] <= 0.5 <= entry["band"][1]
    evidence = {e["signal"]: e for e in lab.calibrated(stored)["metrics"]["verdict"]["evidence"]}
    assert evidence["ulira"]["within"] is True and evidence["ulira"]["value"] == 0.5


def test_forgetting_quality_scores_a_stored_run(lab, digits_base, stored):
    cost = fq_cost(lab, stored, 3)
    assert cost["unlearning_runs"] == 3 and cost["seconds_estimate"] is not None
    result = run_forgetting_quality(lab, stored["run_id"], 3)
    assert 0.0 <= result["forgetting_quality"] <= 1.0 and len(result["epsilons"]) == 143
    assert result["retrained_seeds"] == [1, 2, 3] and result["unlearned_seeds"] == [1, 2, 3]
    assert result["score"] == pytest.approx(result["forgetting_quality"] * result["utility_factor"])
    assert lab.store.get_eval(f"fq-{stored['run_id']}-3")["score"] == pytest.approx(result["score"])
    assert fq_cost(lab, stored, 3)["retrains_to_train"] == 0
