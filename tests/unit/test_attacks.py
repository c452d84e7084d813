"""Attacks against direct computations: SalUn's SVC, and the Comparator-style threshold attack."""

import numpy as np
import pytest
import torch
from sklearn.svm import SVC

from unlearn_core.metrics import mia
from unlearn_core.metrics.mia import SVC_SHADOW_CAP, entropy, shadow_split, svc_attack, svc_mia_efficacy
from unlearn_core.metrics.threshold import (
    attack_score,
    best_attack,
    logit_confidence,
    sweep,
    tempered_entropy,
    threshold_attack,
    threshold_explorer,
)


@pytest.mark.parametrize("dims", [1, 2])
def test_svc_efficacy_matches_direct_sklearn(dims):
    rng = np.random.default_rng(dims)
    member = rng.normal(1.0, 0.5, size=(120, dims))
    non_member = rng.normal(-1.0, 0.5, size=(100, dims))
    target = rng.normal(0.2, 1.0, size=(70, dims))
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(
        np.concatenate([member, non_member]), np.r_[np.ones(120), np.zeros(100)])
    expected = 1.0 - clf.predict(target).mean()  # share of targets called non-member
    assert svc_mia_efficacy(member, non_member, target) == pytest.approx(expected)
    assert 0.0 < expected < 1.0


def test_shadow_split_is_salun_s_first_n_of_each_side_capped():
    retain = torch.arange(10, 5000, 2)  # 2,495 retain images in dataset order
    members, n = shadow_split(retain, n_test=397)  # digits-sized test set: the official split, untouched
    assert n == 397 and np.array_equal(members, retain[:397].numpy())
    members, n = shadow_split(retain, n_test=10_000)  # Fashion-MNIST-sized: capped, same order and balance
    assert n == min(len(retain), SVC_SHADOW_CAP) and np.array_equal(members, retain[:n].numpy())
    members, n = shadow_split(retain, n_test=10_000, cap=None)  # the official n = min(|retain|, |test|)
    assert n == len(retain) and len(members) == n


def test_a_repeated_attack_is_fitted_once_with_the_same_answer(monkeypatch):
    rng = np.random.default_rng(0)
    member, non_member, target = rng.normal(1, 1, 80), rng.normal(-1, 1, 80), rng.normal(0, 1, 40)
    fits = []
    real_fit = SVC.fit
    monkeypatch.setattr(SVC, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
    monkeypatch.setattr(mia, "_FITTED", type(mia._FITTED)())
    first_clf, first = svc_attack(member, non_member, target)
    first[:] = -1  # a caller editing its answer does not edit the kept one
    again_clf, again = svc_attack(member.copy(), non_member.copy(), target.copy())
    assert len(fits) == 1 and again_clf is first_clf and set(np.unique(again)) <= {0.0, 1.0}
    assert svc_mia_efficacy(member, non_member, target) == pytest.approx(1.0 - again.mean())
    svc_attack(member, non_member, target[:-1])  # other inputs: a new fit
    assert len(fits) == 2


def test_entropy_features_feed_the_svc():
    probs = torch.softmax(torch.randn(30, 5, generator=torch.Generator().manual_seed(0)), 1)
    h = entropy(probs)
    assert h.shape == (30,) and np.all(h > 0) and np.all(h <= np.log(5) + 1e-9)


def test_logit_confidence_and_entropy_statistics():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([0, 2])
    p = torch.softmax(logits.double(), 1)
    expected = torch.log(p[[0, 1], target] / (1 - p[[0, 1], target])).numpy()
    assert logit_confidence(logits, target) == pytest.approx(expected)
    assert tempered_entropy(logits)[1] == pytest.approx(np.log(3))


def test_sweep_rates_and_balanced_accuracy_by_hand():
    positive = np.array([1.0, 2.0, 3.0, 4.0])
    negative = np.array([0.0, 0.5, 2.5, -1.0])
    result = sweep(positive, negative, np.array([1.5]))
    assert result["fnr"][0] == pytest.approx(0.25)  # 1.0 <= 1.5
    assert result["fpr"][0] == pytest.approx(0.25)  # 2.5 > 1.5
    assert result["accuracy"][0] == pytest.approx(0.75)
    below = threshold_attack(positive, negative, 1.5, "below")
    assert below["accuracy"] == pytest.approx(0.25)


def test_attack_score_is_zero_at_chance_and_one_at_separation():
    assert attack_score(0.3, 0.7) == pytest.approx(0.0)
    assert attack_score(0.0, 0.0) == pytest.approx(1.0)
    assert 0.0 < attack_score(0.1, 0.2) < 1.0


def test_a_model_against_itself_is_at_chance_and_separated_models_are_not():
    rng = np.random.default_rng(0)
    retrain = rng.normal(-5, 1, size=200)
    same = best_attack(retrain, retrain)
    assert same["best_accuracy"] == pytest.approx(0.5)
    assert same["privacy_score"] == pytest.approx(1.0)
    remembered = best_attack(rng.normal(5, 1, size=200), retrain)
    assert remembered["best_accuracy"] == pytest.approx(1.0)
    assert remembered["privacy_score"] == pytest.approx(0.0)


def test_explorer_reports_every_model_against_retrain():
    rng = np.random.default_rng(1)
    stats = {name: {"confidence": rng.normal(mu, 1, 100), "entropy": rng.uniform(0, 1, 100)}
             for name, mu in (("original", 6.0), ("unlearned", 1.0), ("retrain", -4.0))}
    view = threshold_explorer(stats, "confidence", threshold=0.0)
    assert set(view["vs_retrain"]) == {"original", "unlearned"}
    assert view["vs_retrain"]["original"]["at_threshold"]["accuracy"] > 0.95
    assert view["vs_retrain"]["original"]["direction"] == "above"
    assert len(view["vs_retrain"]["unlearned"]["sweep"]["fpr"]) == len(view["thresholds"])
