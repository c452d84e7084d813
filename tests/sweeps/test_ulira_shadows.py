"""U-LiRA's shadow pairs as sweep cells: the same phis as the former in-process loop on every executor, each
pair stored once, a rerun trains nothing, a cancel stops.

Tiny on purpose: digits CNN trained one epoch, finetune one epoch, class 3 forgotten, shadows of one epoch. The
reference is the former `run_ulira` loop, written out here, on a workspace of its own (nothing it trains is
reused by the sweeps). The Ray test comes last: it starts this module's Ray instance (tests/sweeps/conftest.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.methods import TrainingArtifacts, UnlearnCancelled, UnlearnContext, execute_method, get_method
from unlearn_core.metrics.ulira import ULiRAConfig, forget_phi, leave_one_pair_out, ulira_attack
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import accuracy, train_model
from unlearn_core.progress import quiet
from unlearn_core.results import group_index_rows
from unlearn_core.store import Store
from unlearn_core.studies import ulira as ulira_study
from unlearn_core.studies.sweep import SHADOW_RUN_METHOD, SweepSpec
from unlearn_core.studies.ulira import _shadow_splits, run_ulira, ulira_for_run

EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=1)
FORGET = ForgetSpec(classes=(3,))
PARAMS = {"epochs": 1}
CFG = ULiRAConfig(shadow_pairs=3, shadow_epochs=1)


def former_shadow_phis(lab: Lab, spec, forget, method: str, params: dict | None, cfg: ULiRAConfig,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The loop `run_ulira` ran before its pairs became sweep cells: K pairs one after another in this process."""
    base = lab.base_model(spec)
    dataset = lab.dataset(base.spec)
    splits = Splits.build(dataset, forget, lab.device)
    impl = None if method == "original" else get_method(method)
    method_cfg = impl.Config.from_values(params) if impl else None
    recipe = base.spec.recipe if cfg.shadow_epochs is None else replace(base.spec.recipe, epochs=cfg.shadow_epochs)
    needs_log = impl is not None and "update_log" in impl.info.needs_artifacts
    shadow_recipe = replace(recipe, record_updates=recipe.record_updates and needs_log)
    retrain_recipe = replace(recipe, record_updates=False)
    codes = base.artifacts.codes if recipe.mnemonic_t_mix > 0 else None
    phis_u, phis_r = [], []
    for k in range(cfg.shadow_pairs):
        shadow_seed = seed * 1_000_003 + 7919 * (k + 1)
        sub = _shadow_splits(dataset, splits, torch.Generator().manual_seed(shadow_seed))
        torch.manual_seed(shadow_seed)
        shadow = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
        x, y = sub.train()
        outcome = train_model(shadow, x, y, shadow_recipe, seed=shadow_seed, device=lab.device, codes=codes)
        if impl is None:
            unlearned = outcome.model
        else:
            artifacts = TrainingArtifacts(base.spec.arch, dataset.input_shape, dataset.num_classes, shadow_recipe,
                                          shadow_seed, codes=codes, updates=outcome.updates,
                                          original_train_acc=accuracy(outcome.model, x, y))
            ctx = UnlearnContext(lab.device, shadow_seed, quiet, threading.Event())
            unlearned = execute_method(impl, outcome.model, sub, artifacts, method_cfg, ctx).result.model
        torch.manual_seed(shadow_seed)
        retrained = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
        xr, yr = sub.retain()
        train_model(retrained, xr, yr, retrain_recipe, seed=shadow_seed, device=lab.device, codes=codes)
        phis_u.append(forget_phi(unlearned, sub))
        phis_r.append(forget_phi(retrained, sub))
    return np.stack(phis_u), np.stack(phis_r)


def stored_run(lab: Lab) -> str:
    record = lab.run(EXPERIMENT, FORGET, "finetune", PARAMS, seed=0)
    assert record["status"] == "ok"
    return record["run_id"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The former loop's phis and the attack computed from them in this process, on a workspace of its own."""
    lab = Lab(Store(tmp_path_factory.mktemp("ulira_reference")), device="cpu")
    run_id = stored_run(lab)
    record = lab.run_record(run_id)
    spec = EXPERIMENT.with_artifacts(get_method("finetune").info.needs_artifacts)
    shadow_u, shadow_r = former_shadow_phis(lab, spec, FORGET, "finetune", dict(record.params), CFG, 0)
    base = lab.base_model(spec)
    splits = Splits.build(lab.dataset(spec), FORGET, lab.device)
    phi_target = forget_phi(lab.run_model(run_id), splits)
    phi_retrain = forget_phi(lab.retrain_oracle(base, FORGET).model, splits)
    return {"shadow_unlearned": shadow_u, "shadow_retrained": shadow_r, "target": phi_target,
            "retrain": phi_retrain, "attack": ulira_attack(shadow_u, shadow_r, phi_target, phi_retrain),
            "shadow_accuracy": leave_one_pair_out(shadow_u, shadow_r)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Lab, str]:
    """A workspace with the finetune run to attack (its base model and oracle trained once)."""
    lab = Lab(Store(tmp_path_factory.mktemp("ulira_ws")), device="cpu")
    return lab, stored_run(lab)


def shadow_cells(lab: Lab, run_id: str, pairs: int = CFG.shadow_pairs) -> list:
    record = lab.run_record(run_id)
    spec = SweepSpec.ulira_shadows(EXPERIMENT.with_artifacts(()), FORGET, "finetune", dict(record.params), pairs,
                                   seed=0, shadow_epochs=CFG.shadow_epochs)
    return [c for c in spec.cells() if c.is_shadow]


def forget_shadow_runs(lab: Lab) -> None:
    for row in lab.store.list_runs():
        if row["method"] == SHADOW_RUN_METHOD:
            lab.store.delete_run(row["id"])


def assert_same_attack(result: dict, reference: dict) -> None:
    assert np.array_equal(result["phi"]["shadow_unlearned"], reference["shadow_unlearned"])
    assert np.array_equal(result["phi"]["shadow_retrained"], reference["shadow_retrained"])
    assert np.array_equal(result["phi"]["target"], reference["target"])
    assert np.array_equal(result["phi"]["retrain"], reference["retrain"])
    attack = reference["attack"]
    for key in ("accuracy", "true_positive_rate", "true_negative_rate", "tpr_at_fpr"):
        assert result[key] == attack[key], key
    for key in ("llr_unlearned", "llr_retrained", "mu_unlearned", "mu_retrained", "sd_unlearned", "sd_retrained"):
        assert np.array_equal(result["per_example"][key], attack[key]), key
    assert np.array_equal(result["per_example"]["accuracy"], attack["per_example_accuracy"])
    assert result["shadow_accuracy"] == reference["shadow_accuracy"]


def test_sequential_shadow_cells_equal_the_former_loop(prepared, reference):
    lab, run_id = prepared
    result = ulira_for_run(lab, run_id, CFG)
    assert result["executor"]["name"] == "sequential"
    assert_same_attack(result, reference)
    assert [e["rank"] for e in result["most_exposed"]] == list(range(1, CFG.top_k + 1))
    # one ordinary run per pair, with its phis as diagnostics and no weights; the Runs list leaves them out
    cells = shadow_cells(lab, run_id)
    assert result["shadow_run_ids"] == [c.run_id for c in cells]
    for k, cell in enumerate(cells):
        stored = lab.store.load_run_diagnostics(cell.run_id)
        assert np.array_equal(stored["phi_unlearned"].numpy(), reference["shadow_unlearned"][k])
        assert np.array_equal(stored["forget_index"].numpy(), result["forget_index"])
        assert stored["shadow_seed"] == 7919 * (k + 1)  # seed 0
        assert lab.store.load_run_state(cell.run_id) is None
        assert lab.store.get_run(cell.run_id)["shadow_method"] == "finetune"
    assert [r["id"] for g in group_index_rows(lab.runs()) for r in g.runs] == [run_id]


def test_a_rerun_trains_nothing_and_a_larger_k_trains_only_its_new_pairs(prepared, reference, monkeypatch):
    lab, run_id = prepared
    ulira_for_run(lab, run_id, CFG)  # the pairs the test above stored (trained here when this test runs alone)
    trained = []

    def counting_train_model(*args, **kwargs):
        trained.append(kwargs["seed"])
        return train_model(*args, **kwargs)

    monkeypatch.setattr(ulira_study, "train_model", counting_train_model)
    finished = {c.run_id: lab.store.run_row(c.run_id)["finished"] for c in shadow_cells(lab, run_id)}
    again = ulira_for_run(lab, run_id, CFG)
    assert trained == []
    assert_same_attack(again, reference)
    assert {i: lab.store.run_row(i)["finished"] for i in finished} == finished
    bigger = ulira_for_run(lab, run_id, replace(CFG, shadow_pairs=4))
    assert trained == [7919 * 4, 7919 * 4]  # pair 4 only: its shadow original and its retrain
    assert np.array_equal(bigger["phi"]["shadow_unlearned"][:3], reference["shadow_unlearned"])


def test_local_pool_with_two_workers_gives_the_same_numbers(prepared, reference):
    lab, run_id = prepared
    forget_shadow_runs(lab)
    result = ulira_for_run(lab, run_id, CFG, executor="local", workers=2)
    assert result["executor"]["name"] == "local" and result["executor"]["workers"] == 2
    assert_same_attack(result, reference)
    rows = [r for r in lab.store.list_runs() if r["method"] == SHADOW_RUN_METHOD]
    assert sorted(r["id"] for r in rows) == sorted(c.run_id for c in shadow_cells(lab, run_id))  # each once


def test_a_cancelled_attack_stops_between_pairs(prepared):
    lab, run_id = prepared
    forget_shadow_runs(lab)
    stop = threading.Event()

    def stop_after_first_pair(fraction: float, message: str) -> None:
        if "1/3 cells" in message:
            stop.set()

    with pytest.raises(UnlearnCancelled):
        ulira_for_run(lab, run_id, CFG, progress=stop_after_first_pair, stop=stop)
    statuses = lab.store.run_statuses([c.run_id for c in shadow_cells(lab, run_id)])
    assert list(statuses.values()) == ["ok"]  # the queued pairs never started


def test_a_cancel_while_a_pair_trains_stops_it_at_once(prepared):
    """In-process (the Forget quality page's way), the running pair reports its stages as it goes and sees the
    stop event directly: it is stored as cancelled (and trained again next time), the queued pairs never start."""
    lab, run_id = prepared
    forget_shadow_runs(lab)
    stop = threading.Event()
    messages = []

    def stop_while_the_first_pair_trains(fraction: float, message: str) -> None:
        messages.append(message)
        if "shadow pair 1: training the shadow original" in message:
            stop.set()

    with pytest.raises(UnlearnCancelled):
        ulira_for_run(lab, run_id, CFG, progress=stop_while_the_first_pair_trains, stop=stop)
    cells = shadow_cells(lab, run_id)
    assert lab.store.run_statuses([c.run_id for c in cells]) == {cells[0].run_id: "cancelled"}
    assert [m for m in messages if "cells:" in m] == ["1/3 cells: U-LiRA shadow pair 1 (finetune) seed 0 cancelled"]


def test_bad_executor_is_one_line_and_trains_nothing(tmp_path):
    from unlearn_core import UserInputError

    lab = Lab(Store(tmp_path / "ws"), device="cpu")
    dataset = lab.dataset(EXPERIMENT)
    with pytest.raises(UserInputError, match="unknown executor 'nosuch'"):
        run_ulira(lab, EXPERIMENT, FORGET, "original", None, build_model("cnn", dataset.input_shape,
                                                                          dataset.num_classes), CFG, executor="nosuch")
    assert lab.store.list_models() == [] and lab.store.list_runs() == []


def test_shadow_pairs_on_a_real_local_ray_instance(tmp_path, reference, ray_instance):
    lab = Lab(Store(tmp_path / "ws"), device="cpu")  # nothing trained yet: base and oracle are shipped to workers
    run_id = stored_run(lab)
    result = ulira_for_run(lab, run_id, CFG, executor="ray", workers=2)
    assert result["executor"]["name"] == "ray"
    assert_same_attack(result, reference)
    assert all(lab.store.run_row(c.run_id)["status"] == "ok" for c in shadow_cells(lab, run_id))
