"""The NeurIPS 2023 Machine Unlearning Challenge's forgetting quality (Triantafillou et al., arXiv 2406.09073;
google-deepmind/unlearning_evaluation `metric.py`), on N unlearned and N retrained models.

Per forget example, the logit-scaled confidence of the true class under each of the N unlearned models is one
sample, under each of the N retrained models the other. Whichever side has the larger median is "positive".
An attacker picks a decision rule from two families, and each rule's (FPR, FNR) bounds a per-example epsilon:
    eps = max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR), clipped at 0, delta = 1e-5;
a rule with FPR = FNR = 0 separates perfectly (eps = inf), a rule with exactly one of them 0 is discarded
(too few samples to bound it), and the example's epsilon is the largest over rules, capped at 50. When one
side's spread is below 1% of the other's (a near-deterministic unlearning run against seed-varied retrains),
epsilon is the cap, as in the challenge.
Rule families, as in the challenge: one threshold (positive side at or above it), and an interval (the peakier
side inside it). The challenge scans a 0.01-step grid of thresholds (intervals limited to about the peakier
side's width); we enumerate every distinct decision exactly, which finds the same or a stronger attack.
Score: epsilons fall into buckets of width 0.5 from 0 up to ceil(log(N - 1)), worth 1, 1/2, 1/4, ...; beyond
the last bucket an example scores 0. Forgetting quality F is the mean over examples; the challenge's final
score scales it by utility: F * (RA_unlearned / RA_retrained) * (TA_unlearned / TA_retrained), means over
the N models. N = 2 leaves no bucket (log 1 = 0), so N >= 3 is required.
"""

from __future__ import annotations

import math

import numpy as np

DELTA = 1e-5
EPSILON_CAP = 50.0
BUCKET_SIZE = 0.5
MIN_MODELS = 3


def _rates_epsilon(tpr: np.ndarray, fpr: np.ndarray) -> float:
    """The largest epsilon over decision rules given their TPR and FPR (challenge rules for zeros)."""
    fnr, tnr = 1.0 - tpr, 1.0 - fpr
    eps = np.full(len(tpr), np.nan)
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    eps[perfect] = np.inf
    regular = (fpr * fnr) != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(1 - DELTA - fpr[regular]) - np.log(fnr[regular])
        b = np.log(1 - DELTA - fnr[regular]) - np.log(fpr[regular])
        eps[regular] = np.clip(np.fmax(a, b), 0, None)  # fmax: a NaN bound (log of a negative) loses to the other
    if np.isnan(eps).all():
        return 0.0
    return float(min(np.nanmax(eps), EPSILON_CAP))


def single_threshold_rates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TPR and FPR of "positive when value >= t" at every distinct t (the data values)."""
    t = np.unique(np.concatenate([pos, neg])).reshape(-1, 1)
    return (pos.reshape(1, -1) >= t).mean(1), (neg.reshape(1, -1) >= t).mean(1)


def interval_rates(peaky: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TPR and FPR of "the peakier side when l <= value <= r" for every interval between data values."""
    v = np.unique(np.concatenate([peaky, other]))
    lo, hi = np.triu_indices(len(v))
    left, right = v[lo].reshape(-1, 1), v[hi].reshape(-1, 1)

    def inside(x: np.ndarray) -> np.ndarray:
        return ((left <= x.reshape(1, -1)) & (x.reshape(1, -1) <= right)).mean(1)

    return inside(peaky), inside(other)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray) -> float:
    """Epsilon of one forget example from its N unlearned and N retrained confidences."""
    unlearned, retrained = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    retrain_positive = np.median(retrained) > np.median(unlearned)
    pos, neg = (retrained, unlearned) if retrain_positive else (unlearned, retrained)
    pos_range, neg_range = np.ptp(pos), np.ptp(neg)
    largest, smallest = max(pos_range, neg_range), min(pos_range, neg_range)
    if largest > 0 and smallest / largest < 0.01:
        return EPSILON_CAP
    tpr_s, fpr_s = single_threshold_rates(pos, neg)
    peaky, other = (neg, pos) if pos_range >= neg_range else (pos, neg)
    tpr_d, fpr_d = interval_rates(peaky, other)
    return _rates_epsilon(np.concatenate([tpr_d, tpr_s]), np.concatenate([fpr_d, fpr_s]))


def example_epsilons(unlearned: np.ndarray, retrained: np.ndarray) -> np.ndarray:
    """Per-example epsilons from (N, n) confidences of N unlearned and N retrained models."""
    unlearned, retrained = np.asarray(unlearned, np.float64), np.asarray(retrained, np.float64)
    if unlearned.shape != retrained.shape or unlearned.ndim != 2:
        raise ValueError(f"need two (N, n) arrays of equal shape, got {unlearned.shape} and {retrained.shape}")
    return np.array([example_epsilon(unlearned[:, i], retrained[:, i]) for i in range(unlearned.shape[1])])


def bucket_points(num_models: int) -> list[tuple[float, float]]:
    """(bucket start, points) of the challenge's scoring for N models per side."""
    max_epsilon = math.ceil(math.log(num_models - 1)) if num_models > 1 else 0
    out, start, points = [], 0.0, 1.0
    while start + BUCKET_SIZE <= max_epsilon:
        out.append((start, points))
        points /= 2
        start += BUCKET_SIZE
    return out


def score_epsilons(epsilons: np.ndarray, num_models: int) -> float:
    """Forgetting quality F: the mean bucket points of the per-example epsilons."""
    buckets = bucket_points(num_models)
    total = 0.0
    for eps in np.asarray(epsilons, dtype=np.float64):
        total += next((points for start, points in buckets if eps < start + BUCKET_SIZE), 0.0)
    return total / len(epsilons) if len(epsilons) else float("nan")


def forgetting_quality(unlearned_confs: np.ndarray, retrained_confs: np.ndarray, retain_acc_unlearned: float,
                       retain_acc_retrained: float, test_acc_unlearned: float, test_acc_retrained: float) -> dict:
    """{"forgetting_quality": F, "score": F scaled by utility, "epsilons": per example, "num_models": N,
    "utility_factor": (RA_u / RA_r) * (TA_u / TA_r)}."""
    n_models = np.asarray(unlearned_confs).shape[0]
    if n_models < MIN_MODELS:
        raise ValueError(f"forgetting quality needs at least {MIN_MODELS} models per side, got {n_models}")
    eps = example_epsilons(unlearned_confs, retrained_confs)
    quality = score_epsilons(eps, n_models)
    factor = (retain_acc_unlearned / retain_acc_retrained) * (test_acc_unlearned / test_acc_retrained) \
        if retain_acc_retrained > 0 and test_acc_retrained > 0 else float("nan")
    return {"forgetting_quality": quality, "score": quality * factor, "utility_factor": factor,
            "epsilons": eps, "num_models": int(n_models)}


__all__ = ["BUCKET_SIZE", "DELTA", "EPSILON_CAP", "bucket_points", "example_epsilon", "example_epsilons",
           "forgetting_quality", "score_epsilons"]
