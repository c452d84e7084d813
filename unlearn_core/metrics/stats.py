"""Statistics shared by the attacks and the verdict: TPR at a fixed low FPR, ROC AUC, seeded bootstrap CIs.

TPR at FPR (Carlini et al., LiRA, 2022): the share of positives an attack flags at the most permissive
threshold whose false-positive rate on the negatives is still at most `fpr`. With n negatives an FPR below
1/n allows no false positive at all, so TPR at 0.1% FPR on a few hundred negatives is "TPR with zero false
positives"; that is the standard reading, and the tables say how many negatives there were.

Bootstrap CIs are percentile intervals over `B` resamples drawn with a seeded generator, so the same seed
gives the same interval on every machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

LOW_FPRS = (0.01, 0.001)
BOOTSTRAP_SAMPLES = 200
CI_LEVEL = 0.95


def tpr_at_fpr(positive: np.ndarray, negative: np.ndarray, fpr: float) -> float:
    """Largest TPR over thresholds t (a sample is flagged when its score >= t) with FPR <= `fpr`.

    Higher scores mean "positive". Ties are flagged together, so a threshold never splits equal scores."""
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.sort(np.asarray(negative, dtype=np.float64).ravel())
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg) + 1e-9))  # false positives allowed
    # the threshold must sit above the (allowed + 1)-th largest negative
    if allowed >= len(neg):
        return 1.0
    bound = neg[len(neg) - 1 - allowed]
    return float((pos > bound).mean())


def tpr_at_low_fprs(positive: np.ndarray, negative: np.ndarray, fprs: tuple[float, ...] = LOW_FPRS
                    ) -> dict[str, float]:
    """{"0.01": TPR at 1% FPR, "0.001": TPR at 0.1% FPR} (keys are the FPRs as text, for JSON)."""
    return {f"{f:g}": tpr_at_fpr(positive, negative, f) for f in fprs}


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Mann-Whitney ROC AUC: P(score of a positive > score of a negative), ties counting one half."""
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))  # average ranks: ties count one half
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_mean_ci(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES,
                      level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (e.g. 0/1 correctness: the CI of an accuracy)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    return _percentiles(values[idx].mean(1), level)


def bootstrap_ci(statistic: Callable[..., float], arrays: tuple[np.ndarray, ...], seed: int = 0,
                 samples: int = BOOTSTRAP_SAMPLES, level: float = CI_LEVEL, paired: bool = False
                 ) -> tuple[float, float]:
    """Percentile bootstrap CI of `statistic(*arrays)`. Each array is resampled with replacement on its own,
    or all with the same indices when `paired` (arrays of equal length, e.g. one image under two models)."""
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in arrays)
    if any(len(a) == 0 for a in arrays):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    out = np.empty(samples)
    for b in range(samples):
        if paired:
            idx = rng.integers(0, len(arrays[0]), len(arrays[0]))
            out[b] = statistic(*(a[idx] for a in arrays))
        else:
            out[b] = statistic(*(a[rng.integers(0, len(a), len(a))] for a in arrays))
    return _percentiles(out, level)


__all__ = ["BOOTSTRAP_SAMPLES", "CI_LEVEL", "LOW_FPRS", "bootstrap_ci", "bootstrap_mean_ci", "roc_auc",
           "tpr_at_fpr", "tpr_at_low_fprs"]
