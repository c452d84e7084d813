"""l1-sparse unlearning (Jia et al., NeurIPS 2023): fine-tune on the retain set with a decaying l1 penalty.

Loss per step: CE(retain batch) + alpha_t * ||theta||_1 over every parameter, with alpha_t = alpha * (1 - t / T)
for epoch t = 0..T-1 (the `FT_l1` schedule of the Unlearn-Sparse code: strong sparsity pressure first, plain
fine-tuning towards the end). Sparsity is the paper's lever: a sparser model forgets more easily.

Diagnostics:
- "history": [{"epoch", "alpha", "loss", "l1_norm", "forget_acc", "retain_acc"}]; "loss" is the epoch's mean
  cross-entropy (without the penalty), "l1_norm" is ||theta||_1 after the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import SGDConfig, accuracy, minibatches, monitor_sample, sgd_epochs
from unlearn_core.methods.base import (
    MethodInfo,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    param,
    register_method,
)


def l1_norm(model: nn.Module) -> torch.Tensor:
    return sum(p.abs().sum() for p in model.parameters())


@register_method("l1_sparse")
class L1Sparse(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="l1-sparse fine-tuning",
        summary="Fine-tune on the retain set under a decaying l1 penalty: sparse weights forget more easily.",
        paper="Jia et al., 'Model sparsity can simplify machine unlearning', NeurIPS 2023 (arXiv:2304.04934)",
        family="baseline",
        needs_retain=True,
        needs_forget_data=False,
    )

    @dataclass(frozen=True)
    class Config(SGDConfig):
        alpha: float = param(3e-3, min=0.0, max=1.0,
                             help="initial l1 weight, decayed linearly over the epochs",
                             paper="1e-4 to 5e-4 (ResNet-18)",
                             why="5e-4 leaves digits class 3 at 99% forget accuracy")
        epochs: int = param(5, min=1, max=100, help="passes over the retain set", paper="10",
                            why="adapted to digits")
        lr: float = param(0.02, min=1e-6, max=1.0, log=True, help="SGD learning rate", paper="0.01",
                          why="calibrated with the shorter run on digits")
        batch_size: int = param(64, min=1, max=4096, help="mini-batch size", paper="256",
                                why="adapted to digits' 1,400 training images")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        x, y = splits.retain()
        xf, yf = splits.forget()
        gen = ctx.generator()
        xm, ym = monitor_sample(x, y, ctx)
        epoch_state = {"alpha": 0.0, "loss_sum": 0.0, "steps": 0}

        def begin(epoch: int) -> None:
            epoch_state.update(alpha=cfg.alpha * (1.0 - epoch / cfg.epochs), loss_sum=0.0, steps=0)

        def penalised(idx: torch.Tensor) -> torch.Tensor:
            ce = F.cross_entropy(model(x[idx]), y[idx])
            loss = ce + epoch_state["alpha"] * l1_norm(model)
            epoch_state["loss_sum"] += ce.item()
            epoch_state["steps"] += 1
            return loss

        def end(epoch: int) -> dict:
            with torch.no_grad():
                norm = float(l1_norm(model))
            return {"alpha": epoch_state["alpha"], "loss": epoch_state["loss_sum"] / epoch_state["steps"],
                    "l1_norm": norm, "forget_acc": accuracy(model, xf, yf), "retain_acc": accuracy(model, xm, ym)}

        history = sgd_epochs(
            model, cfg.optimizer(model), cfg.epochs, ctx, where="l1-sparse fine-tuning", begin_epoch=begin,
            batches=lambda: minibatches(len(y), cfg.batch_size, gen, ctx.device), objective=penalised, end_epoch=end,
            message=lambda row: f"epoch {row['epoch']}/{cfg.epochs}, l1 {row['l1_norm']:.1f}, "
                                f"forget acc {row['forget_acc']:.3f}")
        return UnlearnResult(model, {"history": history})
