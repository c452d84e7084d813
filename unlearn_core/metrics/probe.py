"""Representation probe: can the forget set still be read out of a model's penultimate features?

Methods that only edit the classifier head pass every logit metric while the features below still hold the
forgotten data (Kim et al., "Are we truly forgetting?", UUEF). The probe is a linear classifier (standardised
features, logistic regression) fitted with stratified 5-fold cross-validation, so every score is out of fold:

- class forgetting: **class readout**, the share of forget images whose true class the probe recovers when it is
  fitted on forget and retain images together (a model that erased the class leaves its images scattered among
  the kept classes; retrain's value is the reference, since unseen images of one class still look alike);
- random or hand-picked forgetting: **membership readout**, the ROC AUC of the probe telling forget images from
  test images of the same classes (0.5: the features say nothing about which images were trained on).

Schema of `representation_probe(...)`: {"kind": "class_readout" | "membership_auc", "value": float,
"ci": [lo, hi], "n_forget": int, "n_other": int}.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from unlearn_core.analysis.embedding import features as penultimate
from unlearn_core.data import Splits
from unlearn_core.metrics.stats import bootstrap_ci, bootstrap_mean_ci, roc_auc

FOLDS = 5
MAX_OTHER = 600  # retain (or test) images beside the forget set: enough for a linear probe, cheap to fit


def _probe() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=1.0))


def out_of_fold_proba(features: np.ndarray, labels: np.ndarray, seed: int = 0, folds: int = FOLDS) -> np.ndarray:
    """Out-of-fold class probabilities of a linear probe, (n, classes present) in sorted class order."""
    classes = np.unique(labels)
    counts = np.bincount(np.searchsorted(classes, labels))
    folds = int(min(folds, counts.min()))
    if len(classes) < 2 or folds < 2:
        return np.full((len(labels), len(classes)), np.nan)
    out = np.zeros((len(labels), len(classes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(features, labels):
        clf = _probe().fit(features[train_idx], labels[train_idx])
        cols = np.searchsorted(classes, clf.classes_)
        out[np.ix_(test_idx, cols)] = clf.predict_proba(features[test_idx])
    return out


def class_readout(forget_feats: np.ndarray, forget_labels: np.ndarray, other_feats: np.ndarray,
                  other_labels: np.ndarray, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Out-of-fold probe accuracy on the forget images (probe fitted on forget + other images), with its CI."""
    feats = np.concatenate([forget_feats, other_feats])
    labels = np.concatenate([forget_labels, other_labels])
    proba = out_of_fold_proba(feats, labels, seed)
    if not np.isfinite(proba).all():
        return float("nan"), (float("nan"), float("nan"))
    predicted = np.unique(labels)[proba.argmax(1)]
    correct = (predicted[: len(forget_labels)] == forget_labels).astype(np.float64)
    return float(correct.mean()), bootstrap_mean_ci(correct, seed)


def membership_auc(forget_feats: np.ndarray, test_feats: np.ndarray, seed: int = 0
                   ) -> tuple[float, tuple[float, float]]:
    """Out-of-fold ROC AUC of a probe telling forget (1) from test (0) features, with its bootstrap CI."""
    feats = np.concatenate([forget_feats, test_feats])
    labels = np.r_[np.ones(len(forget_feats)), np.zeros(len(test_feats))].astype(int)
    proba = out_of_fold_proba(feats, labels, seed)
    if not np.isfinite(proba).all():
        return float("nan"), (float("nan"), float("nan"))
    score = proba[:, 1]
    pos, neg = score[: len(forget_feats)], score[len(forget_feats):]
    return roc_auc(pos, neg), bootstrap_ci(roc_auc, (pos, neg), seed)


def probe_sample(splits: Splits, seed: int = 0) -> torch.Tensor:
    """The other images the probe sees beside the forget set: retain images (class readout) or test images
    (membership readout), at most MAX_OTHER, drawn with `seed` so every model is probed on the same images."""
    gen = torch.Generator().manual_seed(seed)
    pool = splits.retain_idx if splits.forget_classes else torch.arange(len(splits.dataset.y_test))
    return pool[torch.randperm(len(pool), generator=gen)[:MAX_OTHER]]


def representation_probe(model: nn.Module, splits: Splits, seed: int = 0) -> dict:
    """The probe of the module docstring for `model` on this forget set."""
    ds = splits.dataset
    xf, yf = splits.forget()
    other = probe_sample(splits, seed)
    forget_feats = penultimate(model, xf)
    if splits.forget_classes:
        xo = ds.x_train[other].to(xf.device)
        value, ci = class_readout(forget_feats, yf.cpu().numpy(), penultimate(model, xo),
                                  ds.y_train[other].numpy(), seed)
        kind = "class_readout"
    else:
        xo = ds.x_test[other].to(xf.device)
        value, ci = membership_auc(forget_feats, penultimate(model, xo), seed)
        kind = "membership_auc"
    return {"kind": kind, "value": value, "ci": list(ci), "n_forget": len(yf), "n_other": len(other)}


__all__ = ["class_readout", "membership_auc", "out_of_fold_proba", "probe_sample", "representation_probe"]
