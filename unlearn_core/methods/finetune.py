"""Fine-tuning on the retain set: forgetting by catastrophic interference (SalUn's FT baseline)."""

from __future__ import annotations

from dataclasses import dataclass

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


@register_method("finetune")
class FineTune(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="Fine-tune (FT)",
        summary="Keep training on the retain set only, hoping the forget set fades.",
        paper="Warnecke et al. 2023; SalUn's FT baseline (Fan et al., ICLR 2024)",
        family="baseline",
        needs_retain=True,
        needs_forget_data=False,
    )

    @dataclass(frozen=True)
    class Config(SGDConfig):
        epochs: int = param(5, min=1, max=100, help="passes over the retain set",
                            paper="10 (SalUn code)", why="adapted to digits")
        lr: float = param(0.02, min=1e-6, max=1.0, log=True, help="SGD learning rate",
                          paper="0.01 to 0.1 (SalUn code, swept)")
        batch_size: int = param(64, min=1, max=4096, help="mini-batch size", paper="256",
                                why="adapted to digits' 1,400 training images")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        x, y = splits.retain()
        xf, yf = splits.forget()
        gen = ctx.generator()
        xm, ym = monitor_sample(x, y, ctx)
        history = sgd_epochs(
            model, cfg.optimizer(model), cfg.epochs, ctx, where="fine-tuning",
            batches=lambda: minibatches(len(y), cfg.batch_size, gen, ctx.device),
            objective=lambda idx: F.cross_entropy(model(x[idx]), y[idx]),
            end_epoch=lambda epoch: {"forget_acc": accuracy(model, xf, yf), "retain_acc": accuracy(model, xm, ym)})
        return UnlearnResult(model, {"history": history})
