"""Selective Synaptic Dampening (Foster et al., AAAI 2024): shrink the weights the forget set relies on most.

One shot, no training:
1. importances []_D = mean over mini-batches of the squared gradient of CE on the FULL training set D
   (not the retain set, as in the official code), and []_Df likewise on the forget set (model in eval mode);
2. a parameter is selected when []_Df > alpha * []_D (alpha: selection weighting);
3. selected parameters are dampened: theta <- beta * theta with beta = min(lambda * []_D / []_Df, 1), so no
   parameter ever grows; all others are left exactly as they were.
Every parameter tensor takes part (weights, biases, normalisation), as in the official `ssd.py`.

Diagnostics:
- "dampened_share": {param name: share of the tensor's entries that were dampened};
- "masks": {param name: {"updated_fraction": same share, "count": 2-D 0/1 map of dampened entries}} (as SalUn's);
- "mean_factor": {param name: mean dampening factor beta over the dampened entries (1.0 if none)}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import minibatches
from unlearn_core.methods._panels import MASKS_PANEL
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    param,
    register_method,
)
from unlearn_core.methods.salun import mask_diagnostics


def squared_gradient_importance(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
    ctx: UnlearnContext, progress: tuple[float, float], label: str,
) -> dict[str, torch.Tensor]:
    """Mean over mini-batches of the squared batch-mean CE gradient, per parameter (SSD's calc_importance)."""
    params = dict(model.named_parameters())
    importance = {name: torch.zeros_like(p) for name, p in params.items()}
    batches = 0
    n_batches = -(-len(y) // batch_size)
    lo, hi = progress
    for idx in minibatches(len(y), batch_size, torch.Generator(), device, shuffle=False):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        for name, p in params.items():
            if p.grad is not None:
                importance[name] += p.grad.detach() ** 2
        batches += 1
        ctx.report(lo + (hi - lo) * batches / n_batches, f"importances on the {label}")
    model.zero_grad(set_to_none=True)
    return {name: imp / max(batches, 1) for name, imp in importance.items()}


@register_method("ssd")
class SelectiveSynapticDampening(UnlearningMethod):
    info = MethodInfo(
        title="SSD: selective synaptic dampening",
        summary="One shot: shrink the weights far more important to the forget set than to the training set.",
        paper="Foster, Schoepf, Brintrup, AAAI 2024 (arXiv:2308.07707)",
        family="baseline",
        needs_retain=True,
        one_shot=True,
        inferred="Importances are taken with the model in eval mode (normalisation statistics frozen).",
    )
    panels = (MASKS_PANEL,)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        alpha: float = param(10.0, min=0.1, max=1e4, log=True,
                             help="selection weighting: dampen where forget importance > alpha x training importance "
                                  "(paper: 10 for ResNet-18)")
        dampening: float = param(1.0, min=0.01, max=1e4, log=True,
                                 help="dampening constant lambda: beta = min(lambda x []_D / []_Df, 1) (paper: 1)")
        batch_size: int = param(64, min=1, max=4096,
                                help="mini-batch size of the importance passes (importances depend on it)")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        model.eval()
        xf, yf = splits.forget()
        xd, yd = splits.train()
        forget_imp = squared_gradient_importance(model, xf, yf, cfg.batch_size, ctx.device, ctx, (0.0, 0.2),
                                                 "forget set")
        train_imp = squared_gradient_importance(model, xd, yd, cfg.batch_size, ctx.device, ctx, (0.2, 0.95),
                                                "full training set")
        masks, mean_factor = {}, {}
        with torch.no_grad():
            for name, p in model.named_parameters():
                selected = forget_imp[name] > cfg.alpha * train_imp[name]
                factor = (cfg.dampening * train_imp[name] / forget_imp[name]).clamp(max=1.0)
                p.copy_(torch.where(selected, p * factor, p))
                masks[name] = selected.cpu()
                mean_factor[name] = float(factor[selected].mean()) if selected.any() else 1.0
        per_tensor, _ = mask_diagnostics(masks)
        dampened = sum(int(m.sum()) for m in masks.values())
        total = sum(m.numel() for m in masks.values())
        ctx.report(1.0, f"dampened {dampened} parameters")
        notes = [f"dampened {dampened:,} of {total:,} parameters ({dampened / total:.2%})"]
        return UnlearnResult(model, {
            "dampened_share": {name: d["updated_fraction"] for name, d in per_tensor.items()},
            "masks": per_tensor,
            "mean_factor": mean_factor,
        }, notes)
