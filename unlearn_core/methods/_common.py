"""Building blocks shared by the iterative methods (batches, wrong labels, divergence checks)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from unlearn_core.methods.base import MethodDiverged
from unlearn_core.models.training import accuracy, make_optimizer  # noqa: F401  (re-exported for methods)


def minibatches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device, shuffle: bool = True
) -> Iterator[torch.Tensor]:
    """Index tensors on `device` covering range(n) once, in a seeded random order."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size].to(device)


def random_wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform labels different from y: draw in [0, C), and bump a collision to the next class (SEMU/SalUn)."""
    draw = torch.randint(0, num_classes, y.shape, generator=generator).to(y.device)
    return torch.where(draw == y, (draw + 1) % num_classes, draw)


def check_finite_loss(loss: torch.Tensor, where: str, limit: float = 1e6) -> None:
    value = loss.item()
    if not math.isfinite(value) or abs(value) > limit:
        raise MethodDiverged(f"loss became {value:.3g} during {where}: the update diverged")


def weight_tensors(model: nn.Module) -> dict[str, nn.Parameter]:
    """Conv and linear weights, and the packed query/key/value projection of torchvision's attention layers
    (a ViT's qkv, which timm's ViT holds as a Linear), in module order; no biases, no normalisation parameters."""
    out = {}
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, nn.Conv2d | nn.Linear):
            out[f"{prefix}weight"] = module.weight
        elif isinstance(module, nn.MultiheadAttention) and module.in_proj_weight is not None:
            out[f"{prefix}in_proj_weight"] = module.in_proj_weight
    return out


def as_heatmap(tensor: torch.Tensor) -> torch.Tensor:
    """The 2-D grid the dashboard draws: (out, in*k*k) for conv kernels, (out, in) for linear weights,
    (1, n) for biases and other vectors."""
    t = tensor.detach().cpu()
    return t.reshape(1, -1) if t.dim() <= 1 else t.reshape(t.shape[0], -1)
