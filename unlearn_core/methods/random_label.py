"""Random labels (RL), as in SalUn's code: train on the forget set with random labels and on the retain set.

Per epoch the forget labels are redrawn, then either
- "forget_then_retain" (SalUn's CIFAR-10/SVHN branch): one pass over the forget set with the random labels,
  followed by one pass over the retain set with the true labels; or
- "shuffled_union" (SalUn's CIFAR-100/TinyImageNet branch): one pass over the shuffled union of both.
SalUn's code draws the labels uniformly from all classes, so a drawn label can equal the true one
(`label_draw="uniform"`); `label_draw="wrong"` excludes the true label (as SEMU does).

Diagnostics:
- "history": [{"epoch", "loss_forget", "loss_retain", "forget_acc", "retain_acc"}]; losses are epoch means of
  the cross-entropy on the random-label forget samples and on the retain samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import (
    accuracy,
    check_finite_loss,
    make_optimizer,
    minibatches,
    monitor_sample,
    random_wrong_labels,
)
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

ORDERS = ("forget_then_retain", "shuffled_union")
LABEL_DRAWS = ("uniform", "wrong")


def draw_random_labels(y: torch.Tensor, num_classes: int, draw: str, generator: torch.Generator) -> torch.Tensor:
    """Random labels for the forget set: uniform over all classes (SalUn) or over the wrong ones only."""
    if draw == "wrong":
        return random_wrong_labels(y, num_classes, generator)
    return torch.randint(0, num_classes, y.shape, generator=generator).to(y.device)


def random_label_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    forget: tuple[torch.Tensor, torch.Tensor],
    retain: tuple[torch.Tensor, torch.Tensor],
    order: str,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    before_step: Callable[[], None] | None = None,
    where: str = "random-label training",
) -> tuple[float, float]:
    """One RL epoch; `forget` already carries the random labels. `before_step` may edit the gradients
    (SalUn's mask). Returns the mean cross-entropy on the forget samples and on the retain samples."""
    xf, yf = forget
    xr, yr = retain
    sums = {"forget": 0.0, "retain": 0.0}
    counts = {"forget": 0, "retain": 0}

    def step(x: torch.Tensor, y: torch.Tensor, is_forget: torch.Tensor) -> None:
        per_sample = F.cross_entropy(model(x), y, reduction="none")
        loss = per_sample.mean()
        check_finite_loss(loss, where)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if before_step is not None:
            before_step()
        optimizer.step()
        detached = per_sample.detach()
        sums["forget"] += detached[is_forget].sum().item()
        sums["retain"] += detached[~is_forget].sum().item()
        counts["forget"] += int(is_forget.sum())
        counts["retain"] += int((~is_forget).sum())

    model.train()
    if order == "forget_then_retain":
        for idx in minibatches(len(yf), batch_size, generator, device):
            step(xf[idx], yf[idx], torch.ones(len(idx), dtype=torch.bool, device=device))
        for idx in minibatches(len(yr), batch_size, generator, device):
            step(xr[idx], yr[idx], torch.zeros(len(idx), dtype=torch.bool, device=device))
    else:
        x, y = torch.cat([xf, xr]), torch.cat([yf, yr])
        is_forget = torch.arange(len(y), device=device) < len(yf)
        for idx in minibatches(len(y), batch_size, generator, device):
            step(x[idx], y[idx], is_forget[idx])
    model.eval()
    return (sums["forget"] / max(counts["forget"], 1), sums["retain"] / max(counts["retain"], 1))


@register_method("random_label")
class RandomLabel(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="Random labels (RL)",
        summary="Relearn the forget set under random labels while training on the retain set.",
        paper="Golatkar et al., CVPR 2020; SalUn's RL baseline (Fan et al., ICLR 2024, arXiv:2310.12508)",
        family="baseline",
        needs_retain=True,
    )

    @dataclass(frozen=True)
    class Config(MethodConfig):
        epochs: int = param(5, min=1, max=100, help="epochs", paper="10 (SalUn code)",
                            why="adapted to digits: 5 epochs already forget class 3")
        lr: float = param(0.01, min=1e-6, max=1.0, log=True, help="SGD learning rate", paper="0.01 (SalUn code, about)")
        momentum: float = param(0.9, min=0.0, max=0.99, help="SGD momentum", paper="0.9")
        weight_decay: float = param(5e-4, min=0.0, max=0.1, help="SGD weight decay", paper="5e-4")
        batch_size: int = param(64, min=1, max=4096, help="mini-batch size", paper="256",
                                why="adapted to digits' 1,400 training images")
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
        opt = make_optimizer(model.parameters(), "sgd", cfg.lr, cfg.momentum, cfg.weight_decay)
        batch_gen, label_gen = ctx.generator(0), ctx.generator(1)
        xm, ym = monitor_sample(xr, yr, ctx)
        history = []
        for epoch in range(cfg.epochs):
            y_random = draw_random_labels(yf, splits.num_classes, cfg.label_draw, label_gen)
            loss_forget, loss_retain = random_label_epoch(model, opt, (xf, y_random), (xr, yr), cfg.order,
                                                          cfg.batch_size, batch_gen, ctx.device)
            forget_acc = accuracy(model, xf, yf)
            history.append({"epoch": epoch + 1, "loss_forget": loss_forget, "loss_retain": loss_retain,
                            "forget_acc": forget_acc, "retain_acc": accuracy(model, xm, ym)})
            ctx.report((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}, forget acc {forget_acc:.3f}")
        return UnlearnResult(model, {"history": history})
