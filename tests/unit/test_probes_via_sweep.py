"""The probes that are sweeps underneath (retrain band, forgetting quality, multi-seed) give the same numbers
through the sweep engine as the loops they replaced, and store each model they train as one ordinary run.

The reference is the former code of each probe, written out here (one model after another in this process, on
a workspace of its own), so the comparison trains everything twice: digits CNN, one epoch, class 3."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.methods import UnlearnContext, execute_method, get_method
from unlearn_core.metrics import add_gaps, compute_metrics, model_outputs
from unlearn_core.metrics.forgetting_quality import forgetting_quality
from unlearn_core.metrics.seeds import scalar_values
from unlearn_core.metrics.verdicts import bands_from_references
from unlearn_core.results import group_index_rows
from unlearn_core.store import Store
from unlearn_core.studies.band import band_spec, train_band
from unlearn_core.studies.forgetting_quality import _confidences_and_accuracies, run_forgetting_quality
from unlearn_core.studies.seeds import compare_over_seeds
from unlearn_core.studies.sweep import run_sweep

EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=1)
FORGET = ForgetSpec(classes=(3,))
K = 2


def old_band_signals(lab: Lab, base, k: int, seed: int) -> tuple[dict, list[dict]]:
    """The former `train_band` loop: the oracle's signal values and each band retrain's."""
    oracle = lab.retrain_oracle(base, FORGET)
    splits = Splits.build(lab.dataset(base.spec), FORGET, lab.device)
    _, retrain_metrics = lab._reference_metrics(base, oracle, splits, seed)
    signals = []
    for train_seed in range(base.spec.seed + 1, base.spec.seed + k + 1):
        model = lab.retrain_oracle(base, FORGET, seed=train_seed)
        outputs = model_outputs(model.model, splits)
        metrics = add_gaps(compute_metrics(outputs, splits, model.model, base.model, seed), retrain_metrics)
        signals.append(lab.signals(model.model, outputs, splits, base, oracle, metrics, seed)["values"])
    return retrain_metrics["signals"]["values"], signals


def old_forgetting_quality(lab: Lab, base, method: str, params: dict, run_seed: int, n: int) -> dict:
    """The former `run_forgetting_quality` loop for a method other than retrain."""
    splits = Splits.build(lab.dataset(base.spec), FORGET, lab.device)
    retrained = [_confidences_and_accuracies(lab.retrain_oracle(base, FORGET, seed=base.spec.seed + i).model,
                                             splits) for i in range(1, n + 1)]
    impl = get_method(method)
    cfg = impl.Config.from_values(params)
    unlearned = []
    for seed in range(run_seed + 1, run_seed + n + 1):
        ctx = UnlearnContext(lab.device, seed)
        model = execute_method(impl, base.model, splits, base.artifacts, cfg, ctx).result.model
        unlearned.append(_confidences_and_accuracies(model, splits))
    sides = {"unlearned": unlearned, "retrained": retrained}
    confs = {side: np.stack([c for c, _, _ in rows]) for side, rows in sides.items()}
    ra = {side: float(np.mean([r for _, r, _ in rows])) for side, rows in sides.items()}
    ta = {side: float(np.mean([t for _, _, t in rows])) for side, rows in sides.items()}
    return forgetting_quality(confs["unlearned"], confs["retrained"], ra["unlearned"], ra["retrained"],
                              ta["unlearned"], ta["retrained"])


@pytest.fixture(scope="module")
def labs(tmp_path_factory) -> tuple[Lab, Lab]:
    """(the reference workspace, the sweep workspace): nothing trained by one is reused by the other."""
    return (Lab(Store(tmp_path_factory.mktemp("probes_reference")), device="cpu"),
            Lab(Store(tmp_path_factory.mktemp("probes_sweep")), device="cpu"))


def test_band_through_the_sweep_equals_the_former_loop(labs):
    reference, lab = labs
    oracle_values, retrain_signals = old_band_signals(reference, reference.base_model(EXPERIMENT), K, 0)
    base = lab.base_model(EXPERIMENT)
    band = train_band(lab, base, FORGET, K)
    assert band["retrain_seeds"] == [1, 2] and band["k"] == K and band["seed"] == 0
    assert band["bands"] == bands_from_references(oracle_values, retrain_signals)
    assert [band["values"][name]["retrains"] for name in band["values"]] == [
        [(r.get(name) or {}).get("value") for r in retrain_signals] for name in band["values"]]
    # each retrain is one ordinary run record under its cell id, and the model is cached like the oracle's
    cells = band_spec(base, FORGET, K, 0).cells()
    records = [lab.store.get_run(c.run_id) for c in cells]
    assert [(r["method"], r["status"], r["retrain_seed"]) for r in records] == [("retrain", "ok", 1),
                                                                                  ("retrain", "ok", 2)]
    assert band["retrain_keys"] == [f"{band['oracle_key']}-s{s}" for s in (1, 2)]
    # they calibrate verdicts; the dashboard's scenario listings (Compare) do not show them as methods
    listed = {r["id"] for group in group_index_rows(lab.runs()) for r in group.runs}
    assert listed.isdisjoint(c.run_id for c in cells)
    assert all(lab.store.has_model(key) for key in band["retrain_keys"])
    # the band's sweep run again (e.g. after a kill) redoes nothing; the cached band is returned as it is
    again = run_sweep(band_spec(base, FORGET, K, 0), lab=lab, executor="sequential")
    assert {c.status for c in again.cells} == {"done before"}
    assert train_band(lab, base, FORGET, 1) == lab.cached_band(band["oracle_key"], 0)


def test_forgetting_quality_through_sweeps_equals_the_former_loop(labs):
    reference, lab = labs
    params = {"epochs": 1}
    expected = old_forgetting_quality(reference, reference.base_model(EXPERIMENT), "gradient_ascent", params, 0, 3)
    stored = lab.run(EXPERIMENT, FORGET, "gradient_ascent", params)
    result = run_forgetting_quality(lab, stored["run_id"], 3)
    assert result["forgetting_quality"] == expected["forgetting_quality"]
    assert result["score"] == expected["score"] and result["utility_factor"] == expected["utility_factor"]
    assert result["epsilons"] == [float(e) for e in expected["epsilons"]]
    assert result["unlearned_seeds"] == [1, 2, 3] and result["retrained_seeds"] == [1, 2, 3]
    # the retrained side is the run's band (K=3, reusing the band's two retrains): its verdict is calibrated
    assert lab.cached_band(stored["retrain_key"], 0)["k"] == 3
    assert lab.calibrated(stored)["metrics"]["verdict"]["label"] != "unverified"
    unlearned = [r for r in lab.store.list_runs() if r["method"] == "gradient_ascent" and r["id"].startswith("cell-")]
    assert sorted(r["seed"] for r in unlearned) == [1, 2, 3]


def test_multi_seed_through_the_sweep_equals_the_former_loop(labs):
    reference, lab = labs
    methods, params, seeds = ["gradient_ascent", "finetune"], {"finetune": {"epochs": 1}}, (0, 1)
    expected = {}
    for seed in seeds:
        result = reference.compare(replace(EXPERIMENT, seed=seed), FORGET, methods, params, seed=seed)
        expected[seed] = [(r["method"], r["status"], without_seconds(scalar_values(r.get("metrics"))))
                          for r in result["runs"]]
    result = compare_over_seeds(lab, EXPERIMENT, FORGET, methods, params, seeds)
    assert result["seeds"] == [0, 1] and result["methods"] == ["original", "retrain", *methods]
    got = {p["seed"]: [(r["method"], r["status"], without_seconds(r["values"])) for r in p["runs"]]
           for p in result["per_seed"]}
    assert got == expected
    assert all(r["run_id"].startswith("cell-") for p in result["per_seed"] for r in p["runs"][2:])


def without_seconds(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "seconds"}


def test_a_run_evaluated_by_an_earlier_build_is_evaluated_again_from_its_weights(labs):
    _, lab = labs
    fresh = lab.run(EXPERIMENT, FORGET, "gradient_ascent", {"epochs": 1})
    # as an earlier build stored it: no signals, a verdict without evidence
    metrics = {k: v for k, v in fresh["metrics"].items() if k != "signals"}
    metrics["verdict"] = {"label": "unverified"}
    lab.store.finish_run(fresh["run_id"], {**fresh, "metrics": metrics}, lab.store.load_run_state(fresh["run_id"]))
    again = lab.reevaluate(fresh["run_id"])
    assert "evidence" in lab.store.get_run(fresh["run_id"])["metrics"]["verdict"]  # stored back
    assert without_seconds(again["metrics"]) == without_seconds(fresh["metrics"])  # same weights, same numbers
    assert "evidence" in again["metrics"]["verdict"] and "re-evaluated" in again["notes"][-1]
