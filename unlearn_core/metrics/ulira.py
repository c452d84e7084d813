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
original model is.

This module holds the attack's mathematics; training the shadows and unlearning them is orchestration above the
Lab, in unlearn_core.studies.ulira (`run_ulira`, `ulira_for_run`): each shadow pair is one sweep cell
(`SweepSpec.ulira_shadows`), so the pairs run on any sweep executor (in-process, a local process pool, Ray), are
stored once with their phis and are reused by the next attack on the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import Splits
from unlearn_core.metrics.stats import tpr_at_low_fprs
from unlearn_core.metrics.threshold import logit_confidence, model_logits

MIN_STD = 1e-2  # floor on a fitted std: K identical phis (e.g. a saturated model) must not give a zero width



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
    """Log N(phi; unlearned Gaussian) - log N(phi; retrained Gaussian), per example (> 0: 'unlearned')."""
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


def forget_phi(model: nn.Module, splits: Splits) -> np.ndarray:
    """LiRA's statistic phi = log(p_y / (1 - p_y)) of `model` on every forget example of `splits`."""
    x, y = splits.forget()
    return logit_confidence(model_logits(model, x), y)
