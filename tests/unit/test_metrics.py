"""Metric functions against naive reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.svm import SVC
from torch import nn

from unlearn_core.metrics.accuracy import accuracy, confusion_matrix, per_class_accuracy
from unlearn_core.metrics.evaluate import add_gaps
from unlearn_core.metrics.mia import entropy, loss_attack, svc_mia_efficacy, true_class_confidence
from unlearn_core.metrics.weights import changed_parameters, layer_relative_change


def test_accuracy_family_against_loops():
    gen = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 4, (200,), generator=gen)
    target = torch.randint(0, 4, (200,), generator=gen)
    assert accuracy(pred, target) == pytest.approx(sum(int(p == t) for p, t in zip(pred, target, strict=True)) / 200)
    per_class = per_class_accuracy(pred, target, 4)
    for k in range(4):
        rows = [(p, t) for p, t in zip(pred.tolist(), target.tolist(), strict=True) if t == k]
        assert per_class[k] == pytest.approx(sum(p == t for p, t in rows) / len(rows))
    cm = confusion_matrix(pred, target, 4)
    for i in range(4):
        for j in range(4):
            assert cm[i][j] == sum(1 for p, t in zip(pred.tolist(), target.tolist(), strict=True) if t == i and p == j)
    assert np.isnan(accuracy(torch.zeros(0), torch.zeros(0)))


def test_svc_efficacy_equals_a_direct_sklearn_computation():
    rng = np.random.default_rng(0)
    member, non_member = rng.beta(8, 1, 300), rng.beta(2, 2, 300)
    target = rng.beta(3, 2, 120)
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(
        np.concatenate([member, non_member]).reshape(-1, 1), np.r_[np.ones(300), np.zeros(300)])
    expected = 1 - clf.predict(target.reshape(-1, 1)).mean()
    assert svc_mia_efficacy(member, non_member, target) == pytest.approx(expected)


def test_loss_attack_separable_and_identical():
    rng = np.random.default_rng(1)
    separable = loss_attack(rng.uniform(1e-4, 1e-3, 200), rng.uniform(1.0, 3.0, 200))
    assert separable["auc"] > 0.99 and separable["accuracy"] > 0.95
    same = rng.exponential(1.0, 400)
    chance = loss_attack(same[:200], same[200:])
    assert abs(chance["auc"] - 0.5) < 0.1


def test_confidence_and_entropy():
    probs = torch.tensor([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    assert true_class_confidence(probs, torch.tensor([0, 2])) == pytest.approx([0.7, 1 / 3])
    assert entropy(probs)[1] == pytest.approx(np.log(3), rel=1e-5)


def test_changed_parameters_and_relative_change():
    a = nn.Linear(3, 2)
    b = nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.weight[0, 0] += 1.0
    assert changed_parameters(a, b) == (1, 8)
    change = layer_relative_change(a, b)
    assert change["bias"] == 0 and change["weight"] == pytest.approx(1.0 / a.weight.norm().item(), rel=1e-5)


def test_average_gap_is_salun_definition():
    # class forgetting: SalUn's TA is the test accuracy on the kept classes, not on the whole test set
    retrain = {"forget_acc": 0.0, "retain_acc": 1.0, "test_acc": 0.88, "test_acc_retain_classes": 0.98,
               "mia_efficacy": 1.0}
    run = {"forget_acc": 0.1, "retain_acc": 0.9, "test_acc": 0.5, "test_acc_retain_classes": 0.88,
           "mia_efficacy": 0.6}
    add_gaps(run, retrain)
    assert run["avg_gap"] == pytest.approx((0.1 + 0.1 + 0.1 + 0.4) / 4)
