"""U-LiRA-lite: a per-example, retrain-anchored membership attack (Hayes et al., arXiv 2403.01218; peers.md 3.4).

For each forget example x, LiRA's statistic is the logit-scaled confidence phi = log(p_y / (1 - p_y)).
U-LiRA asks whether a model was *unlearned* (trained with x, then unlearned) or *retrained* (never saw x):
1. K shadow pairs. Pair k draws a random half of the retain set, adds every target forget example, trains a
   shadow original on it with the base model's recipe, unlearns the forget examples with the chosen method
   (same parameters), and retrains on the half without them.
2. Per example, fit one Gaussian to the K unlearned-shadow phis and one to the K retrained-shadow phis.
3. The test: log N(phi; mu_u, sd_u) - log N(phi; mu_r, sd_r) > 0 means "unlearned". Applied to the evaluated
   model (truly unlearned) and to the held-out retrain oracle (truly retrained); the attack accuracy is the
   mean of the two hit rates over the forget examples (0.5 = cannot tell, the ideal).
We also report the leave-one-pair-out accuracy on the shadows themselves (the paper's protocol: targets drawn
from the same pipeline as the shadows), which does not depend on the full-data/half-data gap between the
evaluated model and its shadows. The examples ranked most exposed are those the evaluated model gives away
most confidently (largest log-likelihood ratio).

"Lite": K is 8 by default instead of Hayes et al.'s hundreds, so per-example variances are rough; the
`variance="global"` option pools them over examples (LiRA's small-K variant, an option beyond U-LiRA).
Shadows train with the base model's recipe by default; `shadow_epochs` shortens them (faster), but shorter
shadows are less confident than the evaluated model, which biases the evaluated-model accuracy (not the
leave-one-pair-out one). Even at full epochs a half-data shadow sees fewer optimizer steps than the evaluated
model, so read the evaluated-model accuracy together with its two hit rates and the shadow accuracy.
Method "original" (no unlearning: the unlearned shadow is the shadow original) measures how exposed the
original model is. It runs in the background: `run_ulira(..., progress, stop)` reports progress and stops
between shadow models when the event is set.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.methods import TrainingArtifacts, UnlearnCancelled, UnlearnContext, get_method
from unlearn_core.metrics.stats import tpr_at_low_fprs
from unlearn_core.metrics.threshold import logit_confidence, model_logits
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import TrainingCancelled, accuracy, train_model

Progress = Callable[[float, str], None]
MIN_STD = 1e-2  # floor on a fitted std: K identical phis (e.g. a saturated model) must not give a zero width


def _quiet(fraction: float, message: str) -> None:
    return None


@dataclass(frozen=True)
class ULiRAConfig:
    shadow_pairs: int = 8
    shadow_epochs: int | None = None  # None: the base recipe's epochs
    variance: str = "per_example"  # per_example (U-LiRA) | global (pooled over examples, for small K)
    top_k: int = 16

    def validate(self) -> None:
        if not 2 <= self.shadow_pairs <= 256:
            raise UserInputError(f"shadow_pairs must be in [2, 256], got {self.shadow_pairs}")
        if self.shadow_epochs is not None and not 1 <= self.shadow_epochs <= 1000:
            raise UserInputError(f"shadow_epochs must be in [1, 1000], got {self.shadow_epochs}")
        if self.variance not in ("per_example", "global"):
            raise UserInputError(f"variance must be per_example or global, got {self.variance!r}")


def fit_gaussians(phis: np.ndarray, variance: str = "per_example") -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and std of (K, n) shadow statistics (std pooled over examples for 'global')."""
    phis = np.asarray(phis, dtype=np.float64)
    mu = phis.mean(0)
    sd = phis.std(0, ddof=1) if len(phis) > 1 else np.zeros_like(mu)
    if variance == "global":
        sd = np.full_like(mu, math.sqrt(float(np.mean(sd**2))))
    return mu, np.maximum(sd, MIN_STD)


def _log_normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mu) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)


def log_likelihood_ratio(phi: np.ndarray, unlearned: tuple[np.ndarray, np.ndarray],
                         retrained: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """log N(phi; unlearned Gaussian) - log N(phi; retrained Gaussian), per example (> 0: 'unlearned')."""
    return _log_normal(phi, *unlearned) - _log_normal(phi, *retrained)


def ulira_attack(shadow_unlearned: np.ndarray, shadow_retrained: np.ndarray, target_unlearned: np.ndarray,
                 target_retrained: np.ndarray, variance: str = "per_example") -> dict:
    """The likelihood-ratio core. Shadows are (K, n) phis; targets (n,) phis of a truly unlearned and a truly
    retrained model. Ties (ratio exactly 0) count as 'retrained'."""
    gauss_u = fit_gaussians(shadow_unlearned, variance)
    gauss_r = fit_gaussians(shadow_retrained, variance)
    llr_u = log_likelihood_ratio(np.asarray(target_unlearned, dtype=np.float64), gauss_u, gauss_r)
    llr_r = log_likelihood_ratio(np.asarray(target_retrained, dtype=np.float64), gauss_u, gauss_r)
    hit_u, hit_r = llr_u > 0, llr_r <= 0
    return {"accuracy": float((hit_u.mean() + hit_r.mean()) / 2), "true_positive_rate": float(hit_u.mean()),
            "true_negative_rate": float(hit_r.mean()),
            # as floats: numpy booleans add as a logical OR, which scored an example both tests got right 0.5
            "per_example_accuracy": (hit_u.astype(np.float64) + hit_r.astype(np.float64)) / 2.0,
            "tpr_at_fpr": tpr_at_low_fprs(llr_u, llr_r), "llr_unlearned": llr_u, "llr_retrained": llr_r,
            "mu_unlearned": gauss_u[0], "sd_unlearned": gauss_u[1],
            "mu_retrained": gauss_r[0], "sd_retrained": gauss_r[1]}


def leave_one_pair_out(shadow_unlearned: np.ndarray, shadow_retrained: np.ndarray,
                       variance: str = "per_example") -> float:
    """Attack accuracy with each shadow pair in turn as the target and the other pairs as shadows."""
    k = len(shadow_unlearned)
    if k < 3:
        return float("nan")
    scores = []
    for held in range(k):
        keep = np.arange(k) != held
        scores.append(ulira_attack(shadow_unlearned[keep], shadow_retrained[keep], shadow_unlearned[held],
                                   shadow_retrained[held], variance)["accuracy"])
    return float(np.mean(scores))


def _forget_phi(model: nn.Module, splits: Splits) -> np.ndarray:
    x, y = splits.forget()
    return logit_confidence(model_logits(model, x), y)


def _shadow_splits(dataset: ImageDataset, splits: Splits, generator: torch.Generator) -> Splits:
    """All forget examples plus a random half of the retain set, as a Splits over that subset (the forget
    examples keep the run's scenario, so a class-only method still applies)."""
    retain = splits.retain_idx
    half = retain[torch.randperm(len(retain), generator=generator)[: len(retain) // 2]]
    chosen, _ = torch.sort(torch.cat([splits.forget_idx, half]))
    subset = replace(dataset, x_train=dataset.x_train[chosen], y_train=dataset.y_train[chosen])
    forget_pos = torch.nonzero(torch.isin(chosen, splits.forget_idx)).flatten()
    return Splits(subset, splits.spec, forget_pos, splits.device)


def run_ulira(lab, spec, forget: ForgetSpec, method: str, params: dict | None, target: nn.Module,
              cfg: ULiRAConfig | None = None, *, seed: int = 0, progress: Progress = _quiet,
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
                ctx = UnlearnContext(lab.device, shadow_seed, lambda f, m: None, stop)
                unlearned = impl.unlearn(copy.deepcopy(outcome.model), sub, artifacts, method_cfg, ctx).model
            step(0.6, "retraining without the forget set")
            torch.manual_seed(shadow_seed)
            retrained = build_model(base.spec.arch, dataset.input_shape, dataset.num_classes)
            xr, yr = sub.retain()
            train_model(retrained, xr, yr, retrain_recipe, seed=shadow_seed, device=lab.device, codes=codes,
                        stop=stop)
        except TrainingCancelled:
            raise UnlearnCancelled("cancelled by the user") from None
        phis_u.append(_forget_phi(unlearned, sub))
        phis_r.append(_forget_phi(retrained, sub))
    progress(0.98, "likelihood-ratio test")
    shadow_u, shadow_r = np.stack(phis_u), np.stack(phis_r)
    phi_target, phi_retrain = _forget_phi(target, splits), _forget_phi(oracle.model, splits)
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


def ulira_for_run(lab, run_id: str, cfg: ULiRAConfig | None = None, *, progress: Progress = _quiet,
                  stop: threading.Event | None = None) -> dict:
    """U-LiRA-lite for a stored run (its model, method, parameters, seed and forget set)."""
    from unlearn_core.experiment import ExperimentSpec

    record = lab.store.get_run(run_id)
    if record.get("status") != "ok":
        raise UserInputError(f"run {run_id} did not finish ({record.get('status')}): nothing to attack")
    spec = ExperimentSpec.from_dict(record["experiment"])
    forget = ForgetSpec.from_dict(record["forget"])
    base = lab.base_for_record(record)
    state = lab.store.load_run_state(run_id)
    if state is None:
        raise UserInputError(f"run {run_id} has no stored model")
    target = build_model(base.spec.arch, base.artifacts.input_shape, base.artifacts.num_classes)
    target.load_state_dict(state)
    target.to(lab.device).eval()
    return run_ulira(lab, spec, forget, record["method"], record.get("params"), target, cfg,
                     seed=int(record.get("seed") or 0), progress=progress, stop=stop)
