"""Membership-inference attacks in standard use (definitions in shared/peers.md section 3)."""

from __future__ import annotations

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


def svc_attack(member: np.ndarray, non_member: np.ndarray, target: np.ndarray) -> tuple[SVC, np.ndarray]:
    """SalUn's SVC attack fitted on shadow members (label 1) and non-members (label 0): the classifier and its
    member (1) / non-member (0) prediction for each `target` sample."""
    member = np.asarray(member, dtype=np.float64).reshape(len(member), -1)
    non_member = np.asarray(non_member, dtype=np.float64).reshape(len(non_member), -1)
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    features = np.concatenate([member, non_member])
    labels = np.concatenate([np.ones(len(member)), np.zeros(len(non_member))])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(features, labels)
    return clf, clf.predict(target)


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
