"""Linear CKA against its feature-space formula, and its invariances."""

import numpy as np
import pytest
import torch

from unlearn_core.analysis.embedding import embed_2d
from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.metrics.cka import (
    CKA_MAX_LAYERS,
    cka_report,
    layer_cka,
    linear_cka,
    sample_layers,
    similarity_layers,
)
from unlearn_core.models.architectures import build_model


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


def test_a_layer_sample_is_evenly_spaced_with_the_first_and_last_layer():
    layers = [f"l{i}" for i in range(121)]  # DenseNet-121's count
    sample = sample_layers(layers, 24)
    assert len(sample) == 24 and sample[0] == "l0" and sample[-1] == "l120"
    gaps = np.diff([int(name[1:]) for name in sample])
    assert gaps.min() >= 5 and gaps.max() <= 6
    assert sample_layers(layers[:20], 24) == layers[:20] and sample_layers(layers, None) == layers


def test_attention_models_compare_the_layers_that_run():
    # MultiheadAttention applies its out_proj's weights inside its own forward: the module never runs, and the
    # attention output stands for it (CKA failed on every ViT when it waited for out_proj's output)
    torch.manual_seed(0)
    model = build_model("vit_tiny", (1, 8, 8), 4).eval()
    torch.nn.init.normal_(model.heads.head.weight)  # torchvision starts it at zero: a constant output scores 0
    x = torch.randn(6, 1, 8, 8)
    layers = similarity_layers(model, x[:1])
    assert "encoder.layers.encoder_layer_0.self_attention" in layers
    assert not any(name.endswith("out_proj") for name in layers)
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in layer_cka(model, model, x).values())


def _tiny_splits(n_per_class: int) -> Splits:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(4).repeat_interleave(n_per_class)
    x = torch.randn(len(y), 1, 8, 8, generator=gen)
    dataset = ImageDataset("tiny", x, y, x[:4], y[:4], list("abcd"), (0.0,), (1.0,))
    return Splits.build(dataset, ForgetSpec(classes=(1,)))


def test_cka_report_on_a_deep_model_compares_a_stated_layer_sample():
    torch.manual_seed(0)
    original = build_model("resnet50", (1, 8, 8), 4).eval()  # 54 conv/linear layers
    unlearned = build_model("resnet50", (1, 8, 8), 4).eval()
    splits = _tiny_splits(3)
    report = cka_report(unlearned, original, original, splits)
    assert report["layers_total"] == 54 and len(report["layers"]) == CKA_MAX_LAYERS
    assert report["layer_sample"].startswith(f"{CKA_MAX_LAYERS} of 54 ")
    assert report["layers"][0] == "conv1" and report["layers"][-1] == "fc"
    assert len(report["vs_original"]["forget"]) == CKA_MAX_LAYERS
    # the sampled layers' values are those of the full comparison
    every = cka_report(unlearned, original, original, splits, max_layers=None)
    assert every["layers_total"] == len(every["layers"]) == 54 and every["layer_sample"].startswith("all 54")
    full = dict(zip(every["layers"], every["vs_original"]["retain"], strict=True))
    assert report["vs_original"]["retain"] == [full[name] for name in report["layers"]]
    # and they are linear CKA of the layers' outputs (the formula above, on activations taken separately)
    xr, _ = splits.retain()
    name = report["layers"][5]
    outputs = {}
    for role, m in (("a", unlearned), ("b", original)):
        handle = dict(m.named_modules())[name].register_forward_hook(
            lambda _m, _i, out, role=role: outputs.__setitem__(role, out.flatten(1).double().numpy()))
        with torch.no_grad():
            m(xr)
        handle.remove()
    assert full[name] == pytest.approx(formula_cka(outputs["a"], outputs["b"]), rel=1e-4)
