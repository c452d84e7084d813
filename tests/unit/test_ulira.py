"""U-LiRA-lite's likelihood-ratio core on synthetic shadow statistics."""

import numpy as np
import pytest

from unlearn_core.metrics.ulira import MIN_STD, fit_gaussians, leave_one_pair_out, log_likelihood_ratio, ulira_attack


def _draw(rng, mu, k, n, sd=1.0):
    return rng.normal(mu, sd, size=(k, n))


def test_separable_members_and_non_members_give_accuracy_near_one():
    rng = np.random.default_rng(0)
    n = 200
    means_u, means_r = rng.normal(4, 1, n), rng.normal(-4, 1, n)  # per-example centres, far apart
    shadow_u = means_u + rng.normal(0, 0.5, (8, n))
    shadow_r = means_r + rng.normal(0, 0.5, (8, n))
    result = ulira_attack(shadow_u, shadow_r, means_u + rng.normal(0, 0.5, n), means_r + rng.normal(0, 0.5, n))
    assert result["accuracy"] > 0.98
    assert leave_one_pair_out(shadow_u, shadow_r) > 0.98


@pytest.mark.parametrize("variance", ["per_example", "global"])
def test_identical_distributions_give_accuracy_near_half(variance):
    rng = np.random.default_rng(1)
    n = 2000
    centre = rng.normal(0, 3, n)
    shadow_u, shadow_r = centre + _draw(rng, 0, 8, n), centre + _draw(rng, 0, 8, n)
    result = ulira_attack(shadow_u, shadow_r, centre + rng.normal(0, 1, n), centre + rng.normal(0, 1, n), variance)
    assert result["accuracy"] == pytest.approx(0.5, abs=0.03)
    assert leave_one_pair_out(shadow_u, shadow_r, variance) == pytest.approx(0.5, abs=0.03)


def test_identical_models_tie_and_count_as_retrained():
    phis = np.zeros((4, 10))
    result = ulira_attack(phis, phis, np.zeros(10), np.zeros(10))
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["true_negative_rate"] == 1.0 and result["true_positive_rate"] == 0.0


def test_gaussian_fit_and_ratio_by_hand():
    phis = np.array([[0.0, 1.0], [2.0, 1.0]])
    mu, sd = fit_gaussians(phis)
    assert mu == pytest.approx([1.0, 1.0])
    assert sd == pytest.approx([np.sqrt(2.0), MIN_STD])  # ddof 1; the constant column gets the floor
    pooled = fit_gaussians(phis, "global")[1]
    assert pooled == pytest.approx([1.0, 1.0])  # sqrt(mean(2, 0))
    llr = log_likelihood_ratio(np.array([1.0]), (np.array([1.0]), np.array([1.0])), (np.array([3.0]), np.array([1.0])))
    assert llr[0] == pytest.approx(2.0)  # 0.5 * (2/1)^2
