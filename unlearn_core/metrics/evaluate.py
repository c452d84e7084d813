"""Evaluation of one model on the splits, and of a run against the original and the retrain oracle."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.device import eval_batch_size
from unlearn_core.metrics.accuracy import accuracy, confusion_matrix, per_class_accuracy
from unlearn_core.metrics.mia import loss_attack, shadow_split, svc_mia_efficacy, true_class_confidence
from unlearn_core.metrics.weights import changed_parameters

# SalUn's Avg. Gap over FA, RA, TA and MIA-Efficacy; TA is the test accuracy on the kept classes in class
# scenarios (SalUn's class-wise protocol), which test_acc_retain_classes equals (whole test set otherwise)
GAP_KEYS = ("forget_acc", "retain_acc", "test_acc_retain_classes", "mia_efficacy")
T = TypeVar("T")


class ReferenceCache:
    """Outputs of the reference models (the original and the retrain oracle), computed once per (model, data, kind)
    and reused by every run evaluated against them.

    Entries are held weakly by the model object, so they go when the model goes, and each key carries the
    version counters of the model's tensors: an in-place change of any weight (an optimizer step, load_state_dict)
    makes the entry stale instead of wrong."""

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @staticmethod
    def _versions(model: nn.Module) -> tuple[int, ...]:
        return tuple(t._version for t in (*model.parameters(), *model.buffers()))

    def get(self, model: nn.Module, key: tuple, compute: Callable[[], T]) -> T:
        full_key = (*key, self._versions(model))
        with self._lock:
            entries = self._entries.get(model)
            if entries is not None and full_key in entries:
                return entries[full_key]
        value = compute()
        with self._lock:
            entries = self._entries.setdefault(model, {})
            for stale in [k for k in entries if k[:-1] == key]:
                del entries[stale]
            entries[full_key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


REFERENCES = ReferenceCache()


def splits_key(splits: Splits) -> tuple:
    """What identifies the data of a Splits: the dataset (name and loader options) and the forget set."""
    ds = splits.dataset
    return (ds.name, tuple(sorted((k, str(v)) for k, v in ds.options.items())), len(ds.y_train), splits.spec.key,
            str(splits.device))


@dataclass
class Outputs:
    """Softmax outputs of one model on the training and test sets (computed once, reused by every metric)."""

    train_probs: torch.Tensor
    test_probs: torch.Tensor

    @property
    def train_pred(self) -> torch.Tensor:
        return self.train_probs.argmax(1)

    @property
    def test_pred(self) -> torch.Tensor:
        return self.test_probs.argmax(1)


@torch.inference_mode()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    batch_size = batch_size or eval_batch_size(x.device)
    was_training = model.training
    model.eval()
    out = [F.softmax(model(x[i : i + batch_size]).float(), dim=1) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).cpu() if out else torch.zeros(0)


def model_outputs(model: nn.Module, splits: Splits) -> Outputs:
    x_train, _ = splits.train()
    x_test, _ = splits.test()
    return Outputs(predict_probs(model, x_train), predict_probs(model, x_test))


def reference_outputs(model: nn.Module, splits: Splits) -> Outputs:
    """`model_outputs` of a reference model (original or retrain oracle), cached in REFERENCES."""
    return REFERENCES.get(model, ("outputs", splits_key(splits)), lambda: model_outputs(model, splits))


def _nll(probs: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    return (-probs.gather(1, target.view(-1, 1)).clamp_min(1e-12).log()).squeeze(1).numpy()


def compute_metrics(
    outputs: Outputs, splits: Splits, model: nn.Module | None = None, original: nn.Module | None = None,
    seed: int = 0,
) -> dict:
    """Every metric key of design.md section 4 except the retrain gaps (added by `add_gaps`)."""
    ds = splits.dataset
    y_train, y_test = ds.y_train, ds.y_test
    forget_idx, retain_idx = splits.forget_idx, splits.retain_idx
    train_pred, test_pred = outputs.train_pred, outputs.test_pred
    class_mask = splits.test_class_mask().cpu()
    metrics: dict = {
        "forget_acc": accuracy(train_pred[forget_idx], y_train[forget_idx]),
        "retain_acc": accuracy(train_pred[retain_idx], y_train[retain_idx]),
        "test_acc": accuracy(test_pred, y_test),
    }
    if splits.forget_classes:
        metrics["test_acc_forget_classes"] = accuracy(test_pred[class_mask], y_test[class_mask])
        metrics["test_acc_retain_classes"] = accuracy(test_pred[~class_mask], y_test[~class_mask])
    else:
        metrics["test_acc_forget_classes"] = metrics["test_acc"]
        metrics["test_acc_retain_classes"] = metrics["test_acc"]
    metrics["per_class_acc"] = per_class_accuracy(test_pred, y_test, ds.num_classes)
    # SalUn's SVC attack: shadow members = the first n retain samples, non-members = the first n test samples
    shadow_idx, n_shadow = shadow_split(retain_idx, len(y_test))
    train_conf = true_class_confidence(outputs.train_probs, y_train)
    test_conf = true_class_confidence(outputs.test_probs, y_test)
    metrics["mia_efficacy"] = svc_mia_efficacy(
        train_conf[shadow_idx], test_conf[:n_shadow], train_conf[forget_idx.numpy()]
    )
    attack = loss_attack(_nll(outputs.train_probs[forget_idx], y_train[forget_idx]),
                         _nll(outputs.test_probs, y_test), seed=seed)
    metrics["mia_loss_auc"] = attack["auc"]
    metrics["mia_loss_accuracy"] = attack["accuracy"]
    metrics["confusion_matrix"] = confusion_matrix(test_pred, y_test, ds.num_classes)
    if model is not None and original is not None:
        changed, total = changed_parameters(original, model)
        metrics["changed_params"] = changed
        metrics["changed_fraction"] = changed / total
    return metrics


def add_gaps(metrics: dict, retrain: dict) -> dict:
    """Adds per-key gaps to retrain and SalUn's average gap over GAP_KEYS."""
    gaps = {k: abs(metrics[k] - retrain[k]) for k in GAP_KEYS}
    metrics["gap_to_retrain"] = gaps
    metrics["avg_gap"] = float(np.mean(list(gaps.values())))
    return metrics


def non_finite_keys(metrics: dict) -> list[str]:
    """Scalar metric keys whose value is NaN or infinite (never shown as a number in a table)."""
    return [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
