"""The verdict's statistics against naive reference implementations: TPR at low FPR, bootstrap CIs, the
representation probe, the challenge's epsilon scoring, the threshold epsilon, and the U-LiRA regression."""

import itertools
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from unlearn_core.metrics import forgetting_quality as fq
from unlearn_core.metrics.probe import class_readout, membership_auc
from unlearn_core.metrics.signals import best_threshold_accuracy
from unlearn_core.metrics.stats import bootstrap_ci, bootstrap_mean_ci, roc_auc, tpr_at_fpr
from unlearn_core.metrics.threshold import _epsilon, attack_score
from unlearn_core.metrics.ulira import ulira_attack


def naive_tpr_at_fpr(pos, neg, fpr):
    best = 0.0
    for t in sorted(set(pos) | set(neg) | {math.inf}):
        if np.mean([n >= t for n in neg]) <= fpr:
            best = max(best, float(np.mean([p >= t for p in pos])))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fpr", [0.01, 0.001, 0.1])
def test_tpr_at_fpr_matches_a_threshold_scan(seed, fpr):
    rng = np.random.default_rng(seed)
    pos, neg = rng.normal(1, 1, 150), rng.normal(0, 1, 300)
    pos[:5] = neg[:5]  # ties across the classes
    assert tpr_at_fpr(pos, neg, fpr) == pytest.approx(naive_tpr_at_fpr(list(pos), list(neg), fpr))


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 80).astype(float), rng.integers(0, 4, 120).astype(float)
    expected = roc_auc_score(np.r_[np.ones(80), np.zeros(120)], np.r_[pos, neg])
    assert roc_auc(pos, neg) == pytest.approx(expected)


def test_bootstrap_ci_is_seeded_and_matches_a_loop():
    rng = np.random.default_rng(3)
    values = (rng.random(90) < 0.7).astype(float)
    lo, hi = bootstrap_mean_ci(values, seed=5, samples=300)
    gen = np.random.default_rng(5)
    idx = gen.integers(0, len(values), size=(300, len(values)))
    means = [float(np.mean([values[i] for i in row])) for row in idx]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert bootstrap_mean_ci(values, seed=5, samples=300) == (lo, hi)
    assert lo < values.mean() < hi
    a, b = rng.normal(0, 1, 40), rng.normal(1, 1, 50)
    ci = bootstrap_ci(lambda x, y: y.mean() - x.mean(), (a, b), seed=1, samples=200)
    gen = np.random.default_rng(1)
    diffs = []
    for _ in range(200):
        xa = a[gen.integers(0, 40, 40)]
        xb = b[gen.integers(0, 50, 50)]
        diffs.append(xb.mean() - xa.mean())
    assert ci == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])))


def test_best_threshold_accuracy_matches_a_loop():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(0.5, 1, 40), rng.normal(0, 1, 40)
    thresholds = np.linspace(-3, 3, 31)
    naive = max(1 - (np.mean(pos <= t) + np.mean(neg > t)) / 2 for t in thresholds)
    naive = max(naive, max(1 - (np.mean(pos >= t) + np.mean(neg < t)) / 2 for t in thresholds))
    assert best_threshold_accuracy(pos, neg, thresholds)[0] == pytest.approx(naive)


def _naive_probe_accuracy(forget, yf, other, yo, seed):
    x, y = np.concatenate([forget, other]), np.concatenate([yf, yo])
    hits = np.zeros(len(y), bool)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        scaler = StandardScaler().fit(x[train])
        clf = LogisticRegression(max_iter=500).fit(scaler.transform(x[train]), y[train])
        hits[test] = clf.predict(scaler.transform(x[test])) == y[test]
    return hits[: len(yf)].mean()


def test_class_readout_matches_a_plain_cross_validated_probe():
    rng = np.random.default_rng(0)
    yo = rng.integers(0, 3, 150)
    other = rng.normal(0, 1, (150, 6)) + 2 * np.eye(6)[yo]
    yf = np.full(40, 3)
    separable = rng.normal(0, 1, (40, 6)) + 3 * np.eye(6)[3]
    value, (lo, hi) = class_readout(separable, yf, other, yo)
    assert value == pytest.approx(_naive_probe_accuracy(separable, yf, other, yo, 0))
    assert value > 0.9 and lo <= value <= hi
    scattered = rng.normal(0, 1, (40, 6)) + 2 * np.eye(6)[rng.integers(0, 3, 40)]  # like the kept classes
    assert class_readout(scattered, yf, other, yo)[0] < 0.5


def test_membership_auc_is_half_for_identical_features_and_high_for_shifted_ones():
    rng = np.random.default_rng(1)
    test = rng.normal(0, 1, (200, 4))
    assert membership_auc(rng.normal(0, 1, (100, 4)), test)[0] == pytest.approx(0.5, abs=0.1)
    assert membership_auc(rng.normal(1.5, 1, (100, 4)), test)[0] > 0.9


def naive_example_epsilon(u, r):
    """A loop over every rule of both families, with the challenge's rules for zero rates."""
    retrain_pos = np.median(r) > np.median(u)
    pos, neg = (r, u) if retrain_pos else (u, r)
    ranges = np.ptp(pos), np.ptp(neg)
    if max(ranges) > 0 and min(ranges) / max(ranges) < 0.01:
        return fq.EPSILON_CAP
    values = sorted(set(pos) | set(neg))
    rules = [(np.mean(pos >= t), np.mean(neg >= t)) for t in values]
    peaky, other = (neg, pos) if ranges[0] >= ranges[1] else (pos, neg)
    for lo, hi in itertools.combinations_with_replacement(values, 2):
        rules.append((np.mean((peaky >= lo) & (peaky <= hi)), np.mean((other >= lo) & (other <= hi))))
    best = None
    for tpr, fpr in rules:
        fnr = 1 - tpr
        if fpr == 0 and fnr == 0:
            eps = math.inf
        elif fpr * fnr == 0:
            continue
        else:
            bounds = [math.log(1 - fq.DELTA - fpr) - math.log(fnr) if 1 - fq.DELTA - fpr > 0 else -math.inf,
                      math.log(1 - fq.DELTA - fnr) - math.log(fpr) if 1 - fq.DELTA - fnr > 0 else -math.inf]
            eps = max(0.0, max(bounds))
        best = eps if best is None else max(best, eps)
    return 0.0 if best is None else min(best, fq.EPSILON_CAP)


def test_example_epsilon_matches_a_loop_over_every_rule():
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(3, 9))
        u, r = rng.normal(rng.normal(0, 1), 1, n), rng.normal(0, 1, n)
        assert fq.example_epsilon(u, r) == pytest.approx(naive_example_epsilon(u, r)), trial


def test_epsilon_scoring_follows_the_challenge_buckets():
    assert fq.bucket_points(2) == []  # log(1) = 0: no bucket, N = 2 cannot score
    assert fq.bucket_points(4) == [(0.0, 1.0), (0.5, 0.5), (1.0, 0.25), (1.5, 0.125)]  # ceil(log 3) = 2
    assert fq.score_epsilons(np.array([0.0, 0.6, 1.9, 2.0, 50.0]), 4) == pytest.approx((1 + 0.5 + 0.125) / 5)
    same = np.random.default_rng(0).normal(0, 1, (8, 30))
    separated = same + 100
    assert fq.forgetting_quality(same, same.copy(), 1, 1, 1, 1)["forgetting_quality"] == pytest.approx(1.0)
    assert fq.forgetting_quality(separated, same, 1, 1, 1, 1)["forgetting_quality"] == 0.0
    scaled = fq.forgetting_quality(same, same.copy(), 0.9, 1.0, 0.8, 1.0)
    assert scaled["score"] == pytest.approx(0.72) and scaled["utility_factor"] == pytest.approx(0.72)
    deterministic = np.tile(same[:1], (8, 1))  # one unlearned output repeated: the challenge's peaky case
    assert fq.example_epsilons(deterministic, same).tolist() == [fq.EPSILON_CAP] * 30
    with pytest.raises(ValueError):
        fq.forgetting_quality(same[:2], same[:2], 1, 1, 1, 1)


def test_threshold_epsilon_takes_the_larger_bound_as_the_challenge_does():
    fpr, fnr = 0.1, 0.4
    larger = max(math.log(1 - 1e-5 - fpr) - math.log(fnr), math.log(1 - 1e-5 - fnr) - math.log(fpr))
    assert _epsilon(np.array(fpr), np.array(fnr)) == pytest.approx(larger)
    assert attack_score(fpr, fnr) == pytest.approx(1 - 2 ** -larger)
    assert _epsilon(np.array(0.0), np.array(0.5)) == 0.0  # one rate 0: no usable bound
    assert _epsilon(np.array(0.0), np.array(0.0)) == math.inf


def test_ulira_per_example_accuracy_adds_numbers_not_booleans():
    rng = np.random.default_rng(0)
    n = 200
    means_u, means_r = rng.normal(4, 1, n), rng.normal(-4, 1, n)
    shadow_u, shadow_r = means_u + rng.normal(0, 0.5, (8, n)), means_r + rng.normal(0, 0.5, (8, n))
    result = ulira_attack(shadow_u, shadow_r, means_u, means_r)
    per = result["per_example_accuracy"]
    assert per.dtype == np.float64 and set(np.unique(per)) <= {0.0, 0.5, 1.0}
    assert per.mean() == pytest.approx(result["accuracy"])  # the bug gave 0.5 where both tests were right
    assert (per == 1.0).mean() > 0.95
    assert result["tpr_at_fpr"]["0.01"] > 0.95
