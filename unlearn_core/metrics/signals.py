"""The signals a verdict weighs, measured for one model with a bootstrap CI each, plus TPR at low FPR.

Every model of a scenario gets the same signals: a run, the original, the retrain oracle and each retrain of
the band (studies/band.py), so "is this run within what separates independent retrains from the oracle" is
a comparison of like with like. Attacks that compare two models (threshold attacks) take the oracle as the
reference; the same attacks against the *original* tell whether a run changed anything at all.

Schema of `model_signals(...)` (stored as `metrics["signals"]`; every number finite or the entry left out):
    {"values": {signal: {"value": float, "ci": [lo, hi]}},      # signal names: SIGNALS below
     "vs_original": {"confidence": {"value", "ci"}, "entropy": {...}},   # best threshold attack, run vs original
     "tpr_at_fpr": {attack: {"0.01": tpr, "0.001": tpr}},         # attacks: ATTACKS below
     "n": {"forget": int, "test": int}}
CIs are 95% percentile bootstraps (seeded) over the images of the set the signal is measured on: accuracies
resample their images; the SVC efficacies resample the forget images' predictions (the SVC fixed); the
threshold attacks resample forget images paired across the two models; the loss-attack AUC uses the bootstrap
spread of the plain AUC of the per-image loss (the logistic attack is monotone in it), centred on its value.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.metrics.evaluate import Outputs
from unlearn_core.metrics.mia import entropy, shadow_split, svc_attack, true_class_confidence
from unlearn_core.metrics.probe import representation_probe
from unlearn_core.metrics.stats import (
    BOOTSTRAP_SAMPLES,
    CI_LEVEL,
    bootstrap_ci,
    bootstrap_mean_ci,
    roc_auc,
    tpr_at_low_fprs,
)
from unlearn_core.metrics.threshold import STATISTICS, default_thresholds, forget_statistics, natural_direction

# name -> (title, kind); kind "forgetting" signals say whether the forget set is gone, "utility" ones what it cost
SIGNALS: dict[str, tuple[str, str]] = {
    "forget_acc": ("Forget accuracy", "forgetting"),
    "retain_acc": ("Retain accuracy", "utility"),
    "test_acc": ("Test accuracy", "utility"),
    "test_acc_retain_classes": ("Test accuracy, kept classes", "utility"),
    "loss_auc": ("Loss-attack AUC", "forgetting"),
    "svc_confidence": ("SVC attack (confidence)", "forgetting"),
    "svc_entropy": ("SVC attack (entropy)", "forgetting"),
    "threshold_confidence": ("Threshold attack vs retrain (confidence)", "forgetting"),
    "threshold_entropy": ("Threshold attack vs retrain (entropy)", "forgetting"),
    "probe": ("Representation probe", "forgetting"),
    "ulira": ("U-LiRA-lite attack", "forgetting"),
}
# signals that compare a model with the oracle: the oracle scores chance (0.5) against itself
PAIRWISE = ("threshold_confidence", "threshold_entropy", "ulira")
ATTACKS = ("loss", "svc_confidence", "svc_entropy", "threshold_confidence", "threshold_entropy")


def _nll(probs: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    return (-probs.gather(1, target.view(-1, 1)).clamp_min(1e-12).log()).squeeze(1).numpy()


def _entry(value: float, ci: tuple[float, float]) -> dict | None:
    if not math.isfinite(value):
        return None
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = value
    return {"value": float(value), "ci": [float(min(lo, value)), float(max(hi, value))]}


def _shares(values: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of (B, n) `values`: the share <= t and the share < t at every threshold t, as (B, T) arrays.

    Rows are shifted apart so one sort and one searchsorted serve all B rows at once."""
    b, n = values.shape
    span = float(max(values.max(), thresholds.max()) - min(values.min(), thresholds.min())) + 1.0
    offset = (span * np.arange(b))[:, None]
    flat = np.sort((values + offset).ravel())
    shifted = (thresholds[None, :] + offset).ravel()
    base = (n * np.arange(b))[:, None]
    at_most = np.searchsorted(flat, shifted, side="right").reshape(b, -1) - base
    below = np.searchsorted(flat, shifted, side="left").reshape(b, -1) - base
    return at_most / n, below / n


def best_threshold_accuracy(positive: np.ndarray, negative: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Best balanced accuracy over thresholds and both directions, for each row of (B, n) paired samples."""
    pos_le, pos_lt = _shares(np.atleast_2d(np.asarray(positive, np.float64)), thresholds)
    neg_le, neg_lt = _shares(np.atleast_2d(np.asarray(negative, np.float64)), thresholds)
    above = 1.0 - (pos_le + (1.0 - neg_le)) / 2  # "above t is positive": FNR = P(pos <= t), FPR = P(neg > t)
    below = 1.0 - ((1.0 - pos_lt) + neg_lt) / 2  # "below t is positive": FNR = P(pos >= t), FPR = P(neg < t)
    return np.maximum(above.max(1), below.max(1))


def threshold_signal(positive: np.ndarray, negative: np.ndarray, seed: int = 0,
                     samples: int = BOOTSTRAP_SAMPLES) -> dict | None:
    """The best threshold attack's accuracy (model vs reference, same forget images) with a paired CI."""
    positive, negative = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    if len(positive) == 0:
        return None
    thresholds = default_thresholds(positive, negative)
    value = float(best_threshold_accuracy(positive, negative, thresholds)[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(positive), size=(samples, len(positive)))
    boot = best_threshold_accuracy(positive[idx], negative[idx], thresholds)
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return _entry(value, (float(lo), float(hi)))


def _oriented(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores oriented so that higher means 'the model whose values are `positive`'."""
    if natural_direction(positive, negative) == "above":
        return positive, negative
    return -positive, -negative


def model_signals(model: nn.Module, outputs: Outputs, splits: Splits, oracle_stats: dict[str, np.ndarray],
                  original_stats: dict[str, np.ndarray] | None, loss_auc: float | None, seed: int = 0) -> dict:
    """The signals of the module docstring for `model` (its softmax `outputs`), against the oracle's and the
    original's forget statistics (`threshold.forget_statistics`), with `loss_auc` the stored loss-attack AUC."""
    ds = splits.dataset
    y_train, y_test = ds.y_train, ds.y_test
    forget_idx, retain_idx = splits.forget_idx, splits.retain_idx
    correct_train = (outputs.train_pred == y_train).numpy().astype(np.float64)
    correct_test = (outputs.test_pred == y_test).numpy().astype(np.float64)
    values: dict[str, dict | None] = {
        "forget_acc": _entry(correct_train[forget_idx.numpy()].mean(),
                             bootstrap_mean_ci(correct_train[forget_idx.numpy()], seed)),
        "retain_acc": _entry(correct_train[retain_idx.numpy()].mean(),
                             bootstrap_mean_ci(correct_train[retain_idx.numpy()], seed)),
        "test_acc": _entry(correct_test.mean(), bootstrap_mean_ci(correct_test, seed)),
    }
    if splits.forget_classes:
        kept = ~splits.test_class_mask().cpu().numpy()
        values["test_acc_retain_classes"] = _entry(correct_test[kept].mean(),
                                                   bootstrap_mean_ci(correct_test[kept], seed))
    tpr: dict[str, dict] = {}
    # loss attack: forget images (members) have low loss; TPR at low FPR over every test image as a non-member
    loss_f, loss_t = _nll(outputs.train_probs[forget_idx], y_train[forget_idx]), _nll(outputs.test_probs, y_test)
    tpr["loss"] = tpr_at_low_fprs(-loss_f, -loss_t)
    if loss_auc is not None and math.isfinite(loss_auc) and len(loss_f) >= 4:
        plain = roc_auc(loss_f, loss_t)
        flip = abs(1 - plain - loss_auc) < abs(plain - loss_auc)  # the side the logistic attack chose

        def auc(f: np.ndarray, t: np.ndarray) -> float:
            a = roc_auc(f, t)
            return 1 - a if flip else a

        lo, hi = bootstrap_ci(auc, (loss_f, loss_t), seed)
        shift = loss_auc - auc(loss_f, loss_t)
        values["loss_auc"] = _entry(loss_auc, (lo + shift, hi + shift))
    # SalUn's SVC attacks (mia.shadow_split): members = the first n retain images, non-members = the first n test
    # images; the fits are those the metrics and the privacy bundle made (mia.svc_attack reuses them)
    shadow, n_shadow = shadow_split(retain_idx, len(y_test))
    forget = forget_idx.numpy()
    for name, (train_feat, test_feat) in {
        "svc_confidence": (true_class_confidence(outputs.train_probs, y_train),
                           true_class_confidence(outputs.test_probs, y_test)),
        "svc_entropy": (entropy(outputs.train_probs), entropy(outputs.test_probs)),
    }.items():
        clf, predicted = svc_attack(train_feat[shadow], test_feat[:n_shadow], train_feat[forget])
        unseen = 1.0 - predicted.astype(np.float64)
        values[name] = _entry(unseen.mean(), bootstrap_mean_ci(unseen, seed))
        # the SVC's non-members are the test images it was fitted on: SalUn's protocol holds none out
        tpr[name] = tpr_at_low_fprs(clf.decision_function(train_feat[forget].reshape(-1, 1)),
                                    clf.decision_function(test_feat[:n_shadow].reshape(-1, 1)))
    xf, yf = splits.forget()
    stats = forget_statistics(model, xf, yf)
    vs_original: dict[str, dict | None] = {}
    for statistic in STATISTICS:
        values[f"threshold_{statistic}"] = threshold_signal(stats[statistic], oracle_stats[statistic], seed)
        tpr[f"threshold_{statistic}"] = tpr_at_low_fprs(*_oriented(stats[statistic], oracle_stats[statistic]))
        if original_stats is not None:
            vs_original[statistic] = threshold_signal(stats[statistic], original_stats[statistic], seed)
    probe = representation_probe(model, splits, seed)
    values["probe"] = _entry(probe["value"], tuple(probe["ci"]))
    return {"values": {k: v for k, v in values.items() if v is not None},
            "vs_original": {k: v for k, v in vs_original.items() if v is not None},
            "tpr_at_fpr": tpr, "probe_kind": probe["kind"],
            "n": {"forget": len(forget), "test": len(y_test)}}


__all__ = ["ATTACKS", "PAIRWISE", "SIGNALS", "best_threshold_accuracy", "model_signals", "threshold_signal"]
