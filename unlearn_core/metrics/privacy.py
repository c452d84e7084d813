"""The per-run privacy bundle: every cheap attack and the layer-wise CKA, computed at evaluation time.

`Lab.evaluate` stores it under `metrics["privacy"]` of every run record (and of the `original` and
`retrain` reference metrics), next to `metrics["verdict"]` (see verdicts.py). It costs well under a
second on digits; the expensive probes (U-LiRA-lite in ulira.py, the relearn probe in relearn.py) run on
demand only.

Schema of `privacy` (every number finite; a value that cannot be computed is omitted):
    {"attacks": {
        "svc_confidence": float,   # SalUn's SVC MIA-Efficacy on true-class confidence (= metrics mia_efficacy)
        "svc_entropy": float,      # the same attack on the entropy of the softmax
        "loss_auc": float, "loss_accuracy": float,   # cross-validated LR loss attack, forget vs test
        "threshold": {"confidence": best, "entropy": best, "privacy_score": float}},
                                   # best = threshold.best_attack(model's forget stats, retrain's forget stats)
     "cka": cka.cka_report(...)}   # per-layer CKA vs original and vs retrain, forget and retain samples
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.metrics.cka import cka_report
from unlearn_core.metrics.evaluate import REFERENCES, Outputs, model_outputs, splits_key
from unlearn_core.metrics.mia import entropy, loss_attack, shadow_split, svc_mia_efficacy, true_class_confidence
from unlearn_core.metrics.threshold import forget_statistics, threshold_summary


def finite_only(obj: Any) -> Any:
    """A copy of a nested JSON-like structure without non-finite numbers (dropped from dicts, None in lists)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if isinstance(value, float) and not math.isfinite(value):
                continue
            out[key] = finite_only(value)
        return out
    if isinstance(obj, list | tuple):
        return [None if isinstance(v, float) and not math.isfinite(v) else finite_only(v) for v in obj]
    if isinstance(obj, np.floating | np.integer | np.bool_):
        return obj.item()
    return obj


def svc_attacks(outputs: Outputs, splits: Splits, only: tuple[str, ...] = ("svc_confidence", "svc_entropy")
                ) -> dict[str, float]:
    """SalUn's SVC MIA-Efficacy on confidence and on entropy, with SalUn's shadow split (mia.shadow_split):
    members = the first n retain samples, non-members = the first n test samples, target = the forget set."""
    y_train, y_test = splits.dataset.y_train, splits.dataset.y_test
    shadow, n_shadow = shadow_split(splits.retain_idx, len(y_test))
    forget = splits.forget_idx.numpy()
    features = {
        "svc_confidence": (true_class_confidence(outputs.train_probs, y_train),
                           true_class_confidence(outputs.test_probs, y_test)),
        "svc_entropy": (entropy(outputs.train_probs), entropy(outputs.test_probs)),
    }
    return {name: svc_mia_efficacy(train[shadow], test[:n_shadow], train[forget])
            for name, (train, test) in features.items() if name in only}


def _nll(probs: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    return (-probs.gather(1, target.view(-1, 1)).clamp_min(1e-12).log()).squeeze(1).numpy()


def privacy_bundle(model: nn.Module, original: nn.Module, retrain: nn.Module, splits: Splits, seed: int = 0,
                   outputs: Outputs | None = None, metrics: dict | None = None) -> dict:
    """Attacks on `model` (retrain-anchored where the attack compares models) and its per-layer CKA.

    `metrics` (from `compute_metrics` on the same outputs and seed) supplies the confidence SVC attack and the
    loss attack already computed there, so evaluation never fits them twice."""
    outputs = outputs if outputs is not None else model_outputs(model, splits)
    y_train, y_test = splits.dataset.y_train, splits.dataset.y_test
    attacks: dict[str, Any]
    if metrics is not None:
        attacks = {"svc_confidence": metrics["mia_efficacy"], **svc_attacks(outputs, splits, ("svc_entropy",)),
                   "loss_auc": metrics["mia_loss_auc"], "loss_accuracy": metrics["mia_loss_accuracy"]}
    else:
        attacks = svc_attacks(outputs, splits)
        loss = loss_attack(_nll(outputs.train_probs[splits.forget_idx], y_train[splits.forget_idx]),
                           _nll(outputs.test_probs, y_test), seed=seed)
        attacks["loss_auc"], attacks["loss_accuracy"] = loss["auc"], loss["accuracy"]
    xf, yf = splits.forget()
    retrain_stats = REFERENCES.get(retrain, ("forget_statistics", splits_key(splits)),
                                   lambda: forget_statistics(retrain, xf, yf))
    attacks["threshold"] = threshold_summary(forget_statistics(model, xf, yf), retrain_stats)
    return finite_only({"attacks": attacks, "cka": cka_report(model, original, retrain, splits, seed)})


__all__ = ["finite_only", "privacy_bundle", "svc_attacks"]
