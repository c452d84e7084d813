"""SalUn (Fan et al., ICLR 2024): random-label unlearning restricted to the weights salient for the forget set.

1. Saliency: g = sum over forget mini-batches (`mask_batch_size`, 256 as in the official runs) of the gradient of
   -CE(theta_0; forget batch) (model in eval mode, true labels). A sum of batch means weighs a short last batch
   more, so the mask depends on the batch size: batches of 64 change 4.5 % (class 3) to 23 % (random 10 %) of it
   on digits (methods.md section 11). The mask m keeps the global top-gamma share of |g| over every parameter tensor
   (weights, biases, normalisation), as SalUn's `generate_mask.py` does.
2. Random-label training (random_label.py) with every gradient multiplied by m.

The paper defines the result as theta_u = m * (theta_0 + delta) + (1 - m) * theta_0: weights outside the mask
never move. Here the decay is added to the gradient before masking, so a weight outside the mask never gets a
gradient, a momentum or a decay and the equation holds exactly. The official code ends the same way since commit
a6e89fd (February 2026); before it, SGD's weight decay shrank the weights outside the mask a little.

Diagnostics:
- "masks": {param name: {"updated_fraction": share of the tensor in the mask, "count": 2-D 0/1 mask
  (out, in*kh*kw) for conv kernels, (out, in) for linear weights, (1, n) for vectors}};
- "mask_share": {param name: share of all masked entries that lie in this tensor};
- "history": as random_label's ({"epoch", "loss_forget", "loss_retain", "forget_acc", "retain_acc"}).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import accuracy, as_heatmap, make_optimizer, minibatches, monitor_sample
from unlearn_core.methods._panels import HISTORY_PANEL, MASKS_PANEL
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
from unlearn_core.methods.random_label import LABEL_DRAWS, ORDERS, draw_random_labels, random_label_epoch


def mask_diagnostics(masks: dict[str, torch.Tensor]) -> tuple[dict[str, dict], dict[str, float]]:
    """Per-tensor {"updated_fraction", "count"} and each tensor's share of all selected entries."""
    total = sum(int(m.sum()) for m in masks.values())
    per_tensor = {name: {"updated_fraction": float(m.float().mean()), "count": as_heatmap(m.to(torch.uint8))}
                  for name, m in masks.items()}
    share = {name: (int(m.sum()) / total if total else 0.0) for name, m in masks.items()}
    return per_tensor, share


def saliency_masks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gamma: float, batch_size: int,
                   device: torch.device) -> dict[str, torch.Tensor]:
    """SalUn's mask: the global top-gamma share of |sum of forget-loss gradients| over all parameters."""
    params = dict(model.named_parameters())
    grads = {name: torch.zeros_like(p) for name, p in params.items()}
    model.eval()
    for idx in minibatches(len(y), batch_size, torch.Generator(), device, shuffle=False):
        model.zero_grad(set_to_none=True)
        (-F.cross_entropy(model(x[idx]), y[idx])).backward()
        for name, p in params.items():
            if p.grad is not None:
                grads[name] += p.grad
    model.zero_grad(set_to_none=True)
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    keep = int(flat.numel() * gamma)  # SalUn: threshold index int(N * gamma)
    selected = torch.zeros_like(flat, dtype=torch.bool)
    if keep > 0:
        selected[torch.topk(flat, keep, sorted=False).indices] = True
    masks, start = {}, 0
    for name, g in grads.items():
        masks[name] = selected[start : start + g.numel()].view_as(g)
        start += g.numel()
    return masks


@register_method("salun")
class SalUn(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="SalUn: saliency unlearning",
        summary="Random-label training that only touches the weights most salient for the forget set.",
        paper="Fan et al., ICLR 2024 (arXiv:2310.12508)",
        family="baseline",
        needs_retain=True,
        inferred="Weight decay is masked together with the gradient, so unmasked weights stay exactly at "
                 "theta_0 as the paper's equation states (the official code does the same since commit a6e89fd, "
                 "February 2026; earlier versions let SGD decay them slightly).",
    )
    panels = (MASKS_PANEL, HISTORY_PANEL)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        gamma: float = param(0.5, min=0.01, max=1.0, help="share of all parameters in the saliency mask",
                             paper="0.5")
        mask_batch_size: int = param(256, min=1, max=4096,
                                     help="mini-batch size of the forget-gradient pass that builds the mask",
                                     paper="256")
        epochs: int = param(5, min=1, max=100, help="random-label epochs", paper="10",
                            why="adapted to digits: 5 epochs already forget class 3")
        lr: float = param(0.01, min=1e-6, max=1.0, log=True, help="SGD learning rate",
                          paper="0.013 (README 10% example)", why="a round value in the README's range")
        momentum: float = param(0.9, min=0.0, max=0.99, help="SGD momentum", paper="0.9")
        weight_decay: float = param(5e-4, min=0.0, max=0.1, help="weight decay, applied inside the mask only",
                                    paper="5e-4")
        batch_size: int = param(64, min=1, max=4096, help="mini-batch size of the random-label training",
                                paper="256", why="adapted to digits' 1,400 training images")
        order: str = param("forget_then_retain", choices=ORDERS,
                           help="forget pass then retain pass (SalUn's CIFAR-10 code) or one shuffled union",
                           paper="forget_then_retain (CIFAR-10/SVHN)")
        label_draw: str = param("uniform", choices=LABEL_DRAWS,
                                help="uniform over all classes (SalUn's code) or wrong classes only",
                                paper="uniform")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        xr, yr = splits.retain()
        xf, yf = splits.forget()
        ctx.report(0.0, "computing the saliency mask")
        masks = saliency_masks(model, xf, yf, cfg.gamma, cfg.mask_batch_size, ctx.device)
        params = dict(model.named_parameters())
        weights = {name: m.to(params[name].dtype) for name, m in masks.items()}

        @torch.no_grad()
        def mask_gradients() -> None:
            for name, p in params.items():
                if p.grad is not None:
                    p.grad.add_(p, alpha=cfg.weight_decay).mul_(weights[name])

        opt = make_optimizer(model.parameters(), "sgd", cfg.lr, cfg.momentum, 0.0)
        batch_gen, label_gen = ctx.generator(0), ctx.generator(1)
        xm, ym = monitor_sample(xr, yr, ctx)
        history = []
        for epoch in range(cfg.epochs):
            y_random = draw_random_labels(yf, splits.num_classes, cfg.label_draw, label_gen)
            loss_forget, loss_retain = random_label_epoch(model, opt, (xf, y_random), (xr, yr), cfg.order,
                                                          cfg.batch_size, batch_gen, ctx.device,
                                                          before_step=mask_gradients, where="SalUn")
            forget_acc = accuracy(model, xf, yf)
            history.append({"epoch": epoch + 1, "loss_forget": loss_forget, "loss_retain": loss_retain,
                            "forget_acc": forget_acc, "retain_acc": accuracy(model, xm, ym)})
            ctx.report((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}, forget acc {forget_acc:.3f}")
        per_tensor, share = mask_diagnostics(masks)
        total = sum(m.numel() for m in masks.values())
        notes = [f"saliency mask: {sum(int(m.sum()) for m in masks.values()):,} of {total:,} parameters "
                 f"(gamma {cfg.gamma}) may change; all others keep their original values"]
        return UnlearnResult(model, {"masks": per_tensor, "mask_share": share, "history": history}, notes)
