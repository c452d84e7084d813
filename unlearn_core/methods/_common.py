"""Building blocks shared by the iterative methods (batches, wrong labels, divergence checks, the SGD config and
epoch loop of the fine-tuning style baselines)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearn_core.methods.base import MethodConfig, MethodDiverged, UnlearnContext, param
from unlearn_core.models.training import accuracy, make_optimizer  # noqa: F401  (re-exported for methods)


def minibatches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device, shuffle: bool = True
) -> Iterator[torch.Tensor]:
    """Index tensors on `device` covering range(n) once, in a seeded random order."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size].to(device)


MONITOR_RETAIN_SAMPLES = 2048  # retain images a per-epoch history charts: a full pass each epoch over 54k retain
#                                images costs about 40 % of the epoch's own training on a CPU core
MONITOR_STREAM = 97  # generator offset of that sample, apart from every method's training streams


def seeded_sample(x: torch.Tensor, y: torch.Tensor, count: int, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """At most `count` images drawn with `generator`; a set no larger than that is returned whole."""
    if len(y) <= count:
        return x, y
    idx = torch.randperm(len(y), generator=generator)[:count].to(y.device)
    return x[idx], y[idx]


def monitor_sample(x: torch.Tensor, y: torch.Tensor, ctx: UnlearnContext) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed seeded sample of at most MONITOR_RETAIN_SAMPLES images that a method's per-epoch history reads
    (the history only: training never sees it, and its generator is not a training stream). Sets no larger than
    that, e.g. digits' retain set, are read whole."""
    return seeded_sample(x, y, MONITOR_RETAIN_SAMPLES, ctx.generator(MONITOR_STREAM))


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


@dataclass(frozen=True)
class SGDConfig(MethodConfig):
    """The SGD settings of the fine-tuning style baselines. A method's Config subclasses it and may redeclare a
    field to change its default or help text (the field keeps its place in the form)."""

    epochs: int = param(5, min=1, max=100, help="passes over the retain set")
    lr: float = param(0.02, min=1e-6, max=1.0, log=True, help="SGD learning rate")
    momentum: float = param(0.9, min=0.0, max=0.99, help="SGD momentum", paper="0.9")
    weight_decay: float = param(5e-4, min=0.0, max=0.1, help="SGD weight decay", paper="5e-4")
    batch_size: int = param(64, min=1, max=4096, help="mini-batch size")

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """SGD over all of `model`'s parameters with these settings."""
        return make_optimizer(model.parameters(), "sgd", self.lr, self.momentum, self.weight_decay)


def sgd_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    ctx: UnlearnContext,
    *,
    batches: Callable[[], Iterable[torch.Tensor]],
    objective: Callable[[torch.Tensor], torch.Tensor],
    end_epoch: Callable[[int], dict[str, Any]],
    where: str,
    begin_epoch: Callable[[int], None] | None = None,
    message: Callable[[dict[str, Any]], str] | None = None,
    stop: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """The epoch loop the fine-tuning style baselines share: per epoch, train mode, one optimizer step per batch
    of `batches()` on `objective(batch)` (the loss to minimise, checked for divergence), eval mode, a history row
    `{"epoch": e, **end_epoch(e)}` and a progress report; `stop(row)` ends early. Returns the history.

    `begin_epoch(e)` runs before each epoch (a schedule, per-epoch sums); `message(row)` words the progress
    report (default "epoch e/E"); `where` names the method in a divergence error."""
    history: list[dict[str, Any]] = []
    for epoch in range(epochs):
        if begin_epoch is not None:
            begin_epoch(epoch)
        model.train()
        for idx in batches():
            loss = objective(idx)
            check_finite_loss(loss, where)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        row = {"epoch": epoch + 1, **end_epoch(epoch)}
        history.append(row)
        ctx.report((epoch + 1) / epochs, message(row) if message else f"epoch {epoch + 1}/{epochs}")
        if stop is not None and stop(row):
            break
    return history
