"""unlearn_core.persample: vectorised per-sample gradients and Fisher equal the plain loops, chunked or not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unlearn_core.models.architectures import build_model
from unlearn_core.persample import (
    chunk_size,
    diagonal_fisher,
    diagonal_fisher_loop,
    per_sample_grads,
    per_sample_grads_loop,
)


def _cnn_and_batch(n: int = 12) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    gen = torch.Generator().manual_seed(1)
    return model, torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


class _TinyBatchNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


def _assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].shape == b[name].shape, name
        # batched and looped float32 reductions differ in the last bits only
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-7), name


def test_per_sample_grads_equal_the_loop() -> None:
    model, x, y = _cnn_and_batch()
    fast = per_sample_grads(model, x, y)
    _assert_close(fast, per_sample_grads_loop(model, x, y))
    assert fast["c1.weight"].shape == (12, *model.c1.weight.shape)
    # different samples really give different gradients (the test would pass vacuously on a broadcast)
    assert not torch.allclose(fast["f2.weight"][0], fast["f2.weight"][1])


def test_chunking_does_not_change_the_result() -> None:
    model, x, y = _cnn_and_batch(10)
    numel = sum(p.numel() for p in model.parameters())
    small_budget = 3 * numel  # three samples per chunk: 4 chunks, the last one short
    assert chunk_size(numel, 1, small_budget) == 3
    progress: list[tuple[int, int]] = []
    chunked = per_sample_grads(model, x, y, max_floats=small_budget,
                               progress=lambda done, total: progress.append((done, total)))
    _assert_close(chunked, per_sample_grads(model, x, y))
    assert progress == [(3, 10), (6, 10), (9, 10), (10, 10)]


def test_parameter_subset() -> None:
    model, x, y = _cnn_and_batch(5)
    subset = per_sample_grads(model, x, y, params=["f2.weight", "f2.bias"])
    assert set(subset) == {"f2.weight", "f2.bias"}
    _assert_close(subset, per_sample_grads_loop(model, x, y, params=["f2.weight", "f2.bias"]))
    with pytest.raises(KeyError, match="nope"):
        per_sample_grads(model, x, y, params=["nope"])


def test_batchnorm_models_use_eval_mode_and_keep_their_mode_and_statistics() -> None:
    torch.manual_seed(0)
    model = _TinyBatchNormNet()
    model.train()(torch.randn(16, 3, 6, 6))  # give BatchNorm non-trivial running statistics
    stats = {k: v.clone() for k, v in model.bn.state_dict().items()}
    x, y = torch.randn(6, 3, 6, 6), torch.randint(0, 5, (6,))
    fast = per_sample_grads(model, x, y)
    assert model.training, "the caller's mode is restored"
    _assert_close(fast, per_sample_grads_loop(model, x, y))
    for key, value in model.bn.state_dict().items():
        assert torch.equal(value, stats[key]), f"BatchNorm {key} changed"


def test_diagonal_fisher_equals_the_loop_and_chunks_agree() -> None:
    model, x, _ = _cnn_and_batch(5)
    fast = diagonal_fisher(model, x)
    _assert_close(fast, diagonal_fisher_loop(model, x))
    numel = sum(p.numel() for p in model.parameters())
    _assert_close(diagonal_fisher(model, x, num_classes=10, max_floats=2 * 10 * numel), fast)
    assert all((f >= 0).all() for f in fast.values())


def test_empty_input() -> None:
    model, x, y = _cnn_and_batch(3)
    grads = per_sample_grads(model, x[:0], y[:0])
    assert grads["f1.weight"].shape == (0, *model.f1.weight.shape)
    assert all((f == 0).all() for f in diagonal_fisher(model, x[:0]).values())


def _tiny_vit() -> nn.Module:
    from torchvision.models import VisionTransformer

    return VisionTransformer(image_size=12, patch_size=4, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=8,
                             num_classes=3)


def _tiny_swin() -> nn.Module:
    from torchvision.models import SwinTransformer

    # shifted windows on a padded 3x3 token grid, then Swin's permuted global average pool
    return SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2], num_heads=[2], window_size=[2, 2],
                           num_classes=3)


@pytest.mark.parametrize("build", [_tiny_vit, _tiny_swin], ids=["vit", "swin"])
def test_attention_models_are_batched_without_a_fallback_loop(build, recwarn) -> None:
    # functorch warns "There is a performance drop" for each kernel it runs sample by sample (ViT's fused
    # attention, Swin's pooled head did); the batchable formulations leave no such kernel and change no value
    torch.manual_seed(0)
    model = build().eval()
    x, y = torch.randn(4, 3, 12, 12), torch.tensor([0, 1, 2, 0])
    fast, fisher = per_sample_grads(model, x, y), diagonal_fisher(model, x)
    drops = [str(w.message) for w in recwarn if "performance drop" in str(w.message)]
    assert not drops, drops[0]
    _assert_close(fast, per_sample_grads_loop(model, x, y))
    _assert_close(fisher, diagonal_fisher_loop(model, x))
