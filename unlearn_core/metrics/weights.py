"""Weight-space comparisons between a model and the original."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def changed_parameters(original: nn.Module, model: nn.Module) -> tuple[int, int]:
    """(number of parameter entries that differ from the original, total parameter entries)."""
    changed, total = 0, 0
    reference = dict(original.named_parameters())
    for name, p in model.named_parameters():
        q = reference[name].to(p.device)
        changed += int((p != q).sum().item())
        total += p.numel()
    return changed, total


@torch.no_grad()
def layer_relative_change(original: nn.Module, model: nn.Module) -> dict[str, float]:
    """||theta - theta_0|| / ||theta_0|| per parameter tensor."""
    reference = dict(original.named_parameters())
    out = {}
    for name, p in model.named_parameters():
        q = reference[name].to(p.device)
        out[name] = float((p - q).norm() / q.norm().clamp_min(1e-12))
    return out
