"""U-LiRA-lite as a study: K shadow pairs trained as sweep cells, then the attack of metrics/ulira.py.

This is orchestration above the Lab (it trains models and calls methods through `execute_method`), which is why
it lives here and not in metrics/: the metrics never import the Lab. See unlearn_core.metrics.ulira for the
protocol and what "lite" means.

Each shadow pair is one cell of a sweep (`SweepSpec.ulira_shadows`; a `SweepCell` with `shadow_pair` k):
`run_shadow_pair` draws pair k's shadow split, trains the shadow original, unlearns it with the method (none
for "original"), retrains on the half without the forget set, and stores the per-example statistics as the
diagnostics of an ordinary run record under the cell's id (method column `ulira_shadow`): the two phi vectors
over the forget examples, their training indices, the shadow seed and the timings. The shadow weights are not
stored: the attack needs only the phis, and a pair retrains from its shadow seed if it is ever needed again.
So the pairs fan out on any executor (sequential, the local process pool, Ray) like every other cell, are
stored once (a larger K, or a second attack on the same run, reuses them), resume after a kill, and give the
same numbers whichever executor ran them: everything a pair draws is seeded from its shadow seed.

`run_ulira` runs that sweep (sequentially in the calling process by default, so in-process callers keep working;
`progress` reports and `stop` cancels it), loads the K phi pairs in pair order and runs the attack here.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, replace

import numpy as np
import torch
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.device import device_label, environment_versions
from unlearn_core.experiment import BaseModel, ExperimentSpec, Lab
from unlearn_core.methods import TrainingArtifacts, UnlearnCancelled, UnlearnContext, execute_method, get_method
from unlearn_core.methods.base import MethodDiverged, MethodNotApplicable
from unlearn_core.metrics.ulira import ULiRAConfig, forget_phi, leave_one_pair_out, ulira_attack
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import TrainingCancelled, accuracy, train_model
from unlearn_core.progress import Progress, quiet
from unlearn_core.studies.sweep import ORIGINAL, SHADOW_RUN_METHOD, SweepCell, SweepSpec, cell_variant, run_sweep


def shadow_seed(seed: int, pair: int) -> int:
    """The seed of shadow pair `pair` (0-based) of a run with seed `seed`: its split, weights and batches."""
    return seed * 1_000_003 + 7919 * (pair + 1)


def _shadow_splits(dataset: ImageDataset, splits: Splits, generator: torch.Generator) -> Splits:
    """All forget examples plus a random half of the retain set, as a Splits over that subset (the forget
    examples keep the run's scenario, so a class-only method still applies)."""
    retain = splits.retain_idx
    half = retain[torch.randperm(len(retain), generator=generator)[: len(retain) // 2]]
    chosen, _ = torch.sort(torch.cat([splits.forget_idx, half]))
    subset = replace(dataset, x_train=dataset.x_train[chosen], y_train=dataset.y_train[chosen])
    forget_pos = torch.nonzero(torch.isin(chosen, splits.forget_idx)).flatten()
    return Splits(subset, splits.spec, forget_pos, splits.device)


def _train_pair(lab: Lab, cell: SweepCell, base: BaseModel, splits: Splits, seed: int, progress: Progress,
                stop: threading.Event, timings: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Trains pair `cell.shadow_pair`; returns the phis (unlearned shadow, retrained shadow) on the forget examples."""
    dataset = splits.dataset
    impl = None if cell.method == ORIGINAL else get_method(cell.method)
    method_cfg = impl.Config.from_values(dict(cell.config)) if impl else None
    recipe = base.spec.recipe
    if cell.shadow_epochs is not None:
        recipe = replace(recipe, epochs=cell.shadow_epochs)
    # the update log costs memory on every step: recorded only for a method that reads it
    needs_log = impl is not None and "update_log" in impl.info.needs_artifacts
    shadow_recipe = replace(recipe, record_updates=recipe.record_updates and needs_log)
    retrain_recipe = replace(recipe, record_updates=False)
    codes = base.artifacts.codes if recipe.mnemonic_t_mix > 0 else None

    def step(fraction: float, message: str) -> None:
        if stop.is_set():
            raise UnlearnCancelled("cancelled by the user")
        progress(fraction, f"shadow pair {cell.shadow_pair + 1}: {message}")

    sub = _shadow_splits(dataset, splits, torch.Generator().manual_seed(seed))
    clock = time.perf_counter()
    step(0.0, "training the shadow original")
    torch.manual_seed(seed)
    shadow = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
    x, y = sub.train()
    outcome = train_model(shadow, x, y, shadow_recipe, seed=seed, device=lab.device, codes=codes, stop=stop)
    timings["train_shadow"] = time.perf_counter() - clock
    if impl is None:
        unlearned = outcome.model
    else:
        step(0.45, f"unlearning with {cell.method}")
        clock = time.perf_counter()
        artifacts = TrainingArtifacts(base.spec.arch, dataset.input_shape, dataset.num_classes, shadow_recipe, seed,
                                      codes=codes, updates=outcome.updates,
                                      original_train_acc=accuracy(outcome.model, x, y))
        reason = impl.applicability(sub, artifacts)
        if reason:
            raise MethodNotApplicable(f"U-LiRA shadows cannot run {cell.method}: {reason}")
        ctx = UnlearnContext(lab.device, seed, quiet, stop)
        unlearned = execute_method(impl, outcome.model, sub, artifacts, method_cfg, ctx).result.model
        timings["unlearn"] = time.perf_counter() - clock
    step(0.6, "retraining without the forget set")
    clock = time.perf_counter()
    torch.manual_seed(seed)
    retrained = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
    xr, yr = sub.retain()
    train_model(retrained, xr, yr, retrain_recipe, seed=seed, device=lab.device, codes=codes, stop=stop)
    timings["retrain"] = time.perf_counter() - clock
    return forget_phi(unlearned, sub), forget_phi(retrained, sub)


def run_shadow_pair(lab: Lab, cell: SweepCell, *, progress: Progress = quiet,
                    stop: threading.Event | None = None) -> dict:
    """Trains U-LiRA shadow pair `cell.shadow_pair` and stores it as a run under `cell.run_id`; returns its record.

    The record's diagnostics hold {"phi_unlearned", "phi_retrained"} ((n,) float64 over the forget examples),
    "forget_index" ((n,) training indices), "shadow_seed" and "seconds" per stage; its metrics the two mean phis
    and the seconds. A cancel stores the run as cancelled (run again next time); a method that refuses the shadow
    model or diverges stores it as failed with the reason (the same inputs would fail the same way)."""
    if not cell.is_shadow:
        raise UserInputError(f"{cell.label()} is not a U-LiRA shadow cell")
    stop = stop or threading.Event()
    seed = shadow_seed(cell.seed, cell.shadow_pair)
    base = lab.stored_model(cell.model_key) if cell.model_key else lab.base_model(cell.experiment)
    splits = Splits.build(lab.dataset(base.spec), cell.forget, lab.device)
    threads = lab.use_threads(base.model)  # as Lab.run chooses them, so every executor computes with the same count
    record: dict = {
        "method": SHADOW_RUN_METHOD, "title": "U-LiRA shadow pair", "shadow_method": cell.method,
        "shadow_pair": cell.shadow_pair, "shadow_seed": seed, "shadow_epochs": cell.shadow_epochs,
        "params": dict(cell.config), "seed": cell.seed, "device": device_label(lab.device), "threads": threads,
        "experiment": base.spec.to_dict(), "experiment_key": base.key, "forget": cell.forget.to_dict(),
        "forget_summary": splits.summary(), "versions": environment_versions(), "notes": [],
        "created": time.strftime("%Y-%m-%d %H:%M:%S"), "run_id": cell.run_id,
    }
    run_id = lab.store.start_run(record)
    timings: dict[str, float] = {}
    diagnostics = None
    start = time.perf_counter()
    try:
        phi_u, phi_r = _train_pair(lab, cell, base, splits, seed, progress, stop, timings)
        if not (np.isfinite(phi_u).all() and np.isfinite(phi_r).all()):
            raise MethodDiverged("the shadow models give non-finite confidences on the forget set")
        seconds = time.perf_counter() - start
        timings["total"] = seconds
        diagnostics = {"phi_unlearned": phi_u, "phi_retrained": phi_r, "forget_index": splits.forget_idx.cpu(),
                       "shadow_seed": seed, "seconds": timings}
        record.update(status="ok", seconds=seconds, error=None,
                      metrics={"mean_phi_unlearned": float(phi_u.mean()), "mean_phi_retrained": float(phi_r.mean()),
                               "seconds": seconds})
    except (UnlearnCancelled, TrainingCancelled):
        record.update(status="cancelled", seconds=None, metrics=None, error="cancelled by the user")
    except (MethodNotApplicable, MethodDiverged, FloatingPointError) as exc:
        record.update(status="failed", seconds=None, metrics=None, error=str(exc))
    except BaseException as exc:
        record.update(status="failed", seconds=None, metrics=None, error=f"internal error: {exc!r}")
        lab.store.finish_run(run_id, record)
        raise
    lab.store.finish_run(run_id, record, None, diagnostics)
    progress(1.0, record["status"])
    return record


def shadow_phis(lab: Lab, cells: list[SweepCell]) -> tuple[np.ndarray, np.ndarray]:
    """The stored (K, n) phis of finished shadow cells (unlearned, retrained), in the order of `cells`."""
    phis_u, phis_r = [], []
    for cell in cells:
        stored = lab.store.load_run_diagnostics(cell.run_id)
        phis_u.append(np.asarray(stored["phi_unlearned"], dtype=np.float64))
        phis_r.append(np.asarray(stored["phi_retrained"], dtype=np.float64))
    return np.stack(phis_u), np.stack(phis_r)


def run_ulira(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, method: str, params: dict | None, target: nn.Module,
              cfg: ULiRAConfig | None = None, *, seed: int = 0, progress: Progress = quiet,
              stop: threading.Event | None = None, executor: str = "sequential", workers: int | None = None,
              address: str | None = None, model_key: str | None = None) -> dict:
    """U-LiRA-lite for `target` (the model `method` produced from the base model of `spec` on `forget`).

    `lab` is an experiment.Lab; `spec` the ExperimentSpec the run used (its artifact variant); `model_key` names
    the stored (imported) model the run started from instead of the one `spec` trains. The shadow pairs
    run as a sweep on `executor` ("sequential", "local" with `workers`, "ray" at `address`); pairs stored earlier
    are not trained again. Returns {"config", "method", "params", "accuracy", "true_positive_rate",
    "true_negative_rate", "tpr_at_fpr", "shadow_accuracy" (leave one pair out; omitted below 3 pairs),
    "forget_index": (n,) training indices, "phi": {"target", "retrain", "shadow_unlearned" (K, n),
    "shadow_retrained" (K, n)}, "per_example": {"llr_unlearned", "llr_retrained", "accuracy", "mu_unlearned",
    "mu_retrained", "sd_unlearned", "sd_retrained"}, "most_exposed": [{"rank", "train_index", "label", "llr",
    "phi_target", "phi_retrain", "mu_unlearned", "mu_retrained"}], "seconds", "executor" (what ran the shadows),
    "sweep_key", "shadow_run_ids"}. Raises UnlearnCancelled when `stop` was set, UserInputError (one line) when
    a pair cannot be trained."""
    cfg = cfg or ULiRAConfig()
    cfg.validate()
    stop = stop or threading.Event()
    start = time.perf_counter()
    sweep = SweepSpec.ulira_shadows(spec, forget, method, params, cfg.shadow_pairs, seed, cfg.shadow_epochs,
                                    model_key)
    cells = sorted((c for c in sweep.cells() if c.is_shadow), key=lambda c: c.shadow_pair)
    outcome = run_sweep(sweep, executor=executor, workers=workers, address=address, lab=lab,
                        progress=lambda f, m: progress(0.97 * f, m), stop=stop)
    if outcome.status == "cancelled":
        raise UnlearnCancelled("cancelled by the user")
    states = {state.key: state for state in outcome.cells}
    statuses = lab.store.run_statuses([c.run_id for c in cells])
    for cell in cells:
        if statuses.get(cell.run_id) != "ok":
            state = states.get(cell.key)
            error = (lab.store.run_row(cell.run_id) or {}).get("error") or (state.message if state else "not run")
            status = state.status if state else statuses.get(cell.run_id, "not run")
            raise UserInputError(f"U-LiRA shadow pair {cell.shadow_pair + 1}/{len(cells)} {status}: {error}")
    progress(0.98, "likelihood-ratio test")
    shadow_u, shadow_r = shadow_phis(lab, cells)
    # the model the run started from (whose recipe the shadows copied): its retrain oracle is the run's
    base = lab.stored_model(model_key) if model_key else lab.base_model(cell_variant(cells[0]))
    dataset = lab.dataset(base.spec)
    splits = Splits.build(dataset, forget, lab.device)
    oracle = lab.retrain_oracle(base, forget)
    phi_target, phi_retrain = forget_phi(target, splits), forget_phi(oracle.model, splits)
    attack = ulira_attack(shadow_u, shadow_r, phi_target, phi_retrain, cfg.variance)
    forget_index = splits.forget_idx.numpy()
    labels = dataset.y_train[splits.forget_idx].numpy()
    order = np.argsort(-attack["llr_unlearned"], kind="stable")[: cfg.top_k]
    most_exposed = [{"rank": r + 1, "train_index": int(forget_index[i]), "label": int(labels[i]),
                     "llr": float(attack["llr_unlearned"][i]), "phi_target": float(phi_target[i]),
                     "phi_retrain": float(phi_retrain[i]), "mu_unlearned": float(attack["mu_unlearned"][i]),
                     "mu_retrained": float(attack["mu_retrained"][i])} for r, i in enumerate(order)]
    result = {
        "config": asdict(cfg), "method": method, "params": params or {},
        "accuracy": attack["accuracy"], "true_positive_rate": attack["true_positive_rate"],
        "true_negative_rate": attack["true_negative_rate"], "tpr_at_fpr": attack["tpr_at_fpr"],
        "forget_index": forget_index,
        "phi": {"target": phi_target, "retrain": phi_retrain, "shadow_unlearned": shadow_u,
                "shadow_retrained": shadow_r},
        "per_example": {key: attack[key] for key in ("llr_unlearned", "llr_retrained", "mu_unlearned",
                                                      "mu_retrained", "sd_unlearned", "sd_retrained")}
        | {"accuracy": attack["per_example_accuracy"]},
        "most_exposed": most_exposed, "seconds": time.perf_counter() - start,
        "executor": outcome.executor, "sweep_key": outcome.key, "shadow_run_ids": [c.run_id for c in cells],
    }
    shadow_accuracy = leave_one_pair_out(shadow_u, shadow_r, cfg.variance)
    if math.isfinite(shadow_accuracy):
        result["shadow_accuracy"] = shadow_accuracy
    progress(1.0, f"U-LiRA-lite done: attack accuracy {attack['accuracy']:.2f}")
    return result


def ulira_for_run(lab: Lab, run_id: str, cfg: ULiRAConfig | None = None, *, original: bool = False,
                  progress: Progress = quiet, stop: threading.Event | None = None, executor: str = "sequential",
                  workers: int | None = None, address: str | None = None) -> dict:
    """U-LiRA-lite for a stored run (its model, method, parameters, seed and forget set), its shadow pairs on
    `executor` (see `run_ulira`). With `original`, the target is the model the run started from instead (a
    trained base model or an imported checkpoint, never a fresh one trained in its place), attacked as method
    "original" (its shadows are not unlearned)."""
    record = lab.run_record(run_id)
    if record.status != "ok":
        raise UserInputError(f"run {run_id} did not finish ({record.status}): nothing to attack")
    base = lab.base_for_record(record)
    model_key = base.key if base.meta.get("kind") == "imported" else None
    if original:
        method, params, target = ORIGINAL, None, base.model
    else:
        method, params, target = record.method, dict(record.params), lab.run_model(run_id)
        if target is None:
            raise UserInputError(f"run {run_id} has no stored model")
    spec = ExperimentSpec.from_dict(dict(record.experiment))
    return run_ulira(lab, spec, forget=record.forget_spec(), method=method, params=params, target=target,
                     cfg=cfg, seed=int(record.seed or 0), progress=progress, stop=stop, executor=executor,
                     workers=workers, address=address, model_key=model_key)


__all__ = ["run_shadow_pair", "run_ulira", "shadow_phis", "shadow_seed", "ulira_for_run"]
