"""Membership-inference attacks in standard use (definitions in shared/peers.md section 3).

SalUn's SVC attack reads a balanced shadow set: the official code (OPTML-Group/Unlearn-Saliency
`main_forget.py`/`main_random.py`) takes the first |test| retain images as members and the test set as non-members,
so its cost grows with the test set, not the training set. An RBF SVC on overlapping 1-D features keeps nearly
every point as a support vector, so fitting costs about n^2 and predicting the forget set n per image: at
Fashion-MNIST's 10,000 test images (20,000 shadow points) one attack took 55-100 s to fit and 12-25 s to predict
6,000 forget images on a loaded 2-core machine (benchmarks/official_speed.md). `shadow_split` keeps the official
order and balance and caps each side at `SVC_SHADOW_CAP` images, which changes nothing wherever the test set is no
larger (digits, 397 test images); `cap=None` is the official, uncapped set.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.svm import SVC


def true_class_confidence(probs: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    return probs.gather(1, target.view(-1, 1)).squeeze(1).cpu().numpy()


def entropy(probs: torch.Tensor) -> np.ndarray:
    return (-(probs * probs.clamp_min(1e-12).log()).sum(1)).cpu().numpy()


SVC_SHADOW_CAP = 2_000  # shadow images per side (members, non-members) for SalUn's SVC attack
_FITTED: OrderedDict[str, tuple[SVC, np.ndarray]] = OrderedDict()  # recent attacks by the digest of their inputs
_FITTED_SIZE = 8
_FITTED_LOCK = threading.Lock()


def shadow_split(retain_idx: torch.Tensor, n_test: int, cap: int | None = SVC_SHADOW_CAP) -> tuple[np.ndarray, int]:
    """SalUn's balanced shadow set: the first n retain images (training-set indices, returned) as members and the
    first n test images as non-members, n = min(|retain|, |test|, cap); `cap=None` gives the official n."""
    n = min(len(retain_idx), n_test, cap if cap is not None else n_test)
    return retain_idx[:n].numpy(), n


def svc_attack(member: np.ndarray, non_member: np.ndarray, target: np.ndarray) -> tuple[SVC, np.ndarray]:
    """SalUn's SVC attack fitted on shadow members (label 1) and non-members (label 0): the classifier and its
    member (1) / non-member (0) prediction for each `target` sample.

    An evaluation asks for the same attack more than once (the metrics, the privacy bundle and the signals all
    read the confidence attack), so the last few fits are kept by the digest of their inputs and reused."""
    member = np.asarray(member, dtype=np.float64).reshape(len(member), -1)
    non_member = np.asarray(non_member, dtype=np.float64).reshape(len(non_member), -1)
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    digest = hashlib.sha256()
    for part in (member, non_member, target):
        digest.update(repr(part.shape).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    key = digest.hexdigest()
    with _FITTED_LOCK:
        if key in _FITTED:
            _FITTED.move_to_end(key)
            clf, predicted = _FITTED[key]
            return clf, predicted.copy()
    features = np.concatenate([member, non_member])
    labels = np.concatenate([np.ones(len(member)), np.zeros(len(non_member))])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(features, labels)
    predicted = clf.predict(target)
    with _FITTED_LOCK:
        _FITTED[key] = (clf, predicted)
        while len(_FITTED) > _FITTED_SIZE:
            _FITTED.popitem(last=False)
    return clf, predicted.copy()


def svc_mia_efficacy(member: np.ndarray, non_member: np.ndarray, target: np.ndarray) -> float:
    """SalUn's MIA-Efficacy: fit an RBF SVC (C=3, gamma='auto') on shadow members (label 1) and
    non-members (label 0), then return the share of `target` samples predicted non-member."""
    return float(1.0 - svc_attack(member, non_member, target)[1].mean())


def loss_attack(
    forget_loss: np.ndarray, test_loss: np.ndarray, seed: int = 0, n_splits: int = 10
) -> dict[str, float]:
    """The 'simple MIA' of the NeurIPS 2023 kit / SCRUB: logistic regression on per-sample loss, forget (1)
    vs test (0), classes balanced by subsampling, stratified shuffle-split cross-validation.

    Returns the mean held-out ROC AUC and accuracy (0.5 = cannot tell forget images from unseen ones)."""
    rng = np.random.default_rng(seed)
    n = min(len(forget_loss), len(test_loss))
    if n < 4:
        return {"auc": float("nan"), "accuracy": float("nan")}
    f = rng.choice(np.asarray(forget_loss), n, replace=False)
    t = rng.choice(np.asarray(test_loss), n, replace=False)
    x = np.log(np.concatenate([f, t]) + 1e-12).reshape(-1, 1)  # log-loss spreads the near-zero mass
    y = np.concatenate([np.ones(n), np.zeros(n)])
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.3, random_state=seed)
    aucs, accs = [], []
    for train_idx, test_idx in splitter.split(x, y):
        clf = LogisticRegression()
        clf.fit(x[train_idx], y[train_idx])
        scores = clf.predict_proba(x[test_idx])[:, 1]
        aucs.append(roc_auc_score(y[test_idx], scores))
        accs.append(float(((scores > 0.5) == y[test_idx]).mean()))
    return {"auc": float(np.mean(aucs)), "accuracy": float(np.mean(accs))}
