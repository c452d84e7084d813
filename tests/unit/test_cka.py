"""Linear CKA against its feature-space formula, and its invariances."""

import numpy as np
import pytest
import torch

from unlearn_core.analysis.embedding import embed_2d
from unlearn_core.metrics.cka import layer_cka, linear_cka


def formula_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. eq.: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


@pytest.mark.parametrize("p,q", [(5, 7), (40, 3), (64, 64)])
def test_matches_formula_on_random_matrices(p, q):
    rng = np.random.default_rng(p * q)
    x = rng.normal(size=(50, p))
    y = 0.5 * x[:, :1] @ rng.normal(size=(1, q)) + rng.normal(size=(50, q))
    assert linear_cka(x, y) == pytest.approx(formula_cka(x, y), rel=1e-9)
    assert linear_cka(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)) == \
        pytest.approx(formula_cka(x, y), rel=1e-4)


def test_invariant_to_orthogonal_transform_and_isotropic_scaling():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 12))
    y = rng.normal(size=(60, 9))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(3.7 * x @ q, y) == pytest.approx(linear_cka(x, y), rel=1e-9)
    assert linear_cka(x + 5.0, y) == pytest.approx(linear_cka(x, y), rel=1e-9)  # centring


def test_independent_representations_score_low_and_constant_scores_zero():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    assert linear_cka(x, y) < 0.05
    assert linear_cka(x, np.ones((400, 3))) == 0.0


def test_layer_cka_is_one_for_the_same_model_on_every_layer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 3))
    scores = layer_cka(model, model, torch.randn(20, 1, 8, 8))
    assert list(scores) == ["0", "3"]
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in scores.values())


def test_pca_embedding_keeps_the_main_axis():
    rng = np.random.default_rng(3)
    t = rng.normal(size=100)
    feats = np.stack([10 * t, 0.1 * rng.normal(size=100), 0.1 * rng.normal(size=100)], 1)
    coords = embed_2d(feats, "pca")
    assert coords.shape == (100, 2)
    assert abs(np.corrcoef(coords[:, 0], t)[0, 1]) > 0.99
