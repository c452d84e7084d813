"""U-LiRA-lite as a study: trains and unlearns K shadow pairs, then runs the attack of metrics/ulira.py.

This is orchestration above the Lab (it trains models and calls methods through `execute_method`), which is why
it lives here and not in metrics/: the metrics never import the Lab. See unlearn_core.metrics.ulira for the
protocol and what "lite" means. It runs in the background: `run_ulira(..., progress, stop)` reports progress
and stops between shadow models when the event is set.
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
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import TrainingArtifacts, UnlearnCancelled, UnlearnContext, execute_method, get_method
from unlearn_core.metrics.ulira import ULiRAConfig, forget_phi, leave_one_pair_out, ulira_attack
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import TrainingCancelled, accuracy, train_model
from unlearn_core.progress import Progress, quiet


def _shadow_splits(dataset: ImageDataset, splits: Splits, generator: torch.Generator) -> Splits:
    """All forget examples plus a random half of the retain set, as a Splits over that subset (the forget
    examples keep the run's scenario, so a class-only method still applies)."""
    retain = splits.retain_idx
    half = retain[torch.randperm(len(retain), generator=generator)[: len(retain) // 2]]
    chosen, _ = torch.sort(torch.cat([splits.forget_idx, half]))
    subset = replace(dataset, x_train=dataset.x_train[chosen], y_train=dataset.y_train[chosen])
    forget_pos = torch.nonzero(torch.isin(chosen, splits.forget_idx)).flatten()
    return Splits(subset, splits.spec, forget_pos, splits.device)



def run_ulira(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, method: str, params: dict | None, target: nn.Module,
              cfg: ULiRAConfig | None = None, *, seed: int = 0, progress: Progress = quiet,
              stop: threading.Event | None = None) -> dict:
    """U-LiRA-lite for `target` (the model `method` produced from the base model of `spec` on `forget`).

    `lab` is an experiment.Lab; `spec` the ExperimentSpec the run used (its artifact variant). Returns
    {"config", "method", "accuracy", "true_positive_rate", "true_negative_rate", "shadow_accuracy" (leave one
    pair out; omitted below 3 pairs), "forget_index": (n,) training indices, "phi": {"target", "retrain",
    "shadow_unlearned" (K, n), "shadow_retrained" (K, n)}, "per_example": {"llr_unlearned", "llr_retrained",
    "accuracy", "mu_unlearned", "mu_retrained", "sd_unlearned", "sd_retrained"}, "most_exposed": [{"rank",
    "train_index", "label", "llr", "phi_target", "phi_retrain", "mu_unlearned", "mu_retrained"}], "seconds"}.
    """
    cfg = cfg or ULiRAConfig()
    cfg.validate()
    stop = stop or threading.Event()
    start = time.perf_counter()
    base = lab.base_model(spec)
    dataset = lab.dataset(base.spec)
    splits = Splits.build(dataset, forget, lab.device)
    oracle = lab.retrain_oracle(base, forget)
    impl = None if method == "original" else get_method(method)
    method_cfg = impl.Config.from_values(params) if impl else None
    recipe = base.spec.recipe
    if cfg.shadow_epochs is not None:
        recipe = replace(recipe, epochs=cfg.shadow_epochs)
    needs_log = impl is not None and "update_log" in impl.info.needs_artifacts
    shadow_recipe = replace(recipe, record_updates=recipe.record_updates and needs_log)
    retrain_recipe = replace(recipe, record_updates=False)
    codes = base.artifacts.codes if recipe.mnemonic_t_mix > 0 else None
    phis_u, phis_r = [], []
    k_total = cfg.shadow_pairs
    for k in range(k_total):
        def step(fraction: float, message: str, k: int = k) -> None:
            if stop.is_set():
                raise UnlearnCancelled("cancelled by the user")
            progress((k + fraction) / k_total, f"shadow pair {k + 1}/{k_total}: {message}")

        shadow_seed = seed * 1_000_003 + 7919 * (k + 1)
        sub = _shadow_splits(dataset, splits, torch.Generator().manual_seed(shadow_seed))
        try:
            step(0.0, "training the shadow original")
            torch.manual_seed(shadow_seed)
            shadow = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
            x, y = sub.train()
            outcome = train_model(shadow, x, y, shadow_recipe, seed=shadow_seed, device=lab.device, codes=codes,
                                  stop=stop)
            if impl is None:
                unlearned = outcome.model
            else:
                step(0.45, f"unlearning with {method}")
                artifacts = TrainingArtifacts(base.spec.arch, dataset.input_shape, dataset.num_classes,
                                              shadow_recipe, shadow_seed, codes=codes, updates=outcome.updates,
                                              original_train_acc=accuracy(outcome.model, x, y))
                reason = impl.applicability(sub, artifacts)
                if reason:
                    raise UserInputError(f"U-LiRA shadows cannot run {method}: {reason}")
                ctx = UnlearnContext(lab.device, shadow_seed, quiet, stop)
                unlearned = execute_method(impl, outcome.model, sub, artifacts, method_cfg, ctx).result.model
            step(0.6, "retraining without the forget set")
            torch.manual_seed(shadow_seed)
            retrained = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
            xr, yr = sub.retain()
            train_model(retrained, xr, yr, retrain_recipe, seed=shadow_seed, device=lab.device, codes=codes,
                        stop=stop)
        except TrainingCancelled:
            raise UnlearnCancelled("cancelled by the user") from None
        phis_u.append(forget_phi(unlearned, sub))
        phis_r.append(forget_phi(retrained, sub))
    progress(0.98, "likelihood-ratio test")
    shadow_u, shadow_r = np.stack(phis_u), np.stack(phis_r)
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
    }
    shadow_accuracy = leave_one_pair_out(shadow_u, shadow_r, cfg.variance)
    if math.isfinite(shadow_accuracy):
        result["shadow_accuracy"] = shadow_accuracy
    progress(1.0, f"U-LiRA-lite done: attack accuracy {attack['accuracy']:.2f}")
    return result


def ulira_for_run(lab: Lab, run_id: str, cfg: ULiRAConfig | None = None, *, progress: Progress = quiet,
                  stop: threading.Event | None = None) -> dict:
    """U-LiRA-lite for a stored run (its model, method, parameters, seed and forget set)."""
    record = lab.run_record(run_id)
    if record.status != "ok":
        raise UserInputError(f"run {run_id} did not finish ({record.status}): nothing to attack")
    target = lab.run_model(run_id)
    if target is None:
        raise UserInputError(f"run {run_id} has no stored model")
    spec = ExperimentSpec.from_dict(dict(record.experiment))
    return run_ulira(lab, spec, record.forget_spec(), record.method, dict(record.params), target, cfg,
                     seed=int(record.seed or 0), progress=progress, stop=stop)
