"""Machinery shared by the layer-wise partial methods (Gogineni & Nadimi) and amnesiac unlearning.

- `PartialStep`: one optimiser step in which, per parameter tensor ("layer"), only the top-`rho_u` share of
  entries by |gradient| may change. The update is masked after the optimiser step (old values are restored
  outside the mask), so momentum or Adam state cannot move a parameter that was not selected.
- `subtract_recorded_updates`: amnesiac subtraction of recorded training steps, optionally pruned per layer.
- `PartialUpdateMethod`: the training loop of partial label flipping and partial gradient ascent.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import (
    accuracy,
    as_heatmap,
    check_finite_loss,
    make_optimizer,
    minibatches,
    random_wrong_labels,
)
from unlearn_core.methods._panels import HISTORY_PANEL, MASKS_PANEL
from unlearn_core.methods.base import (
    MethodConfig,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    param,
)
from unlearn_core.models.training import UpdateLog, keep_count

STORAGE_CURVE_RHOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
PRUNE_CHUNK_ENTRIES = 1 << 23  # dense entries (steps x parameters) pruned at once: 32 MiB of float32
MONITOR_SIZE = 128  # retain images charting retain accuracy per epoch when no retain term is trained (monitoring)


def top_fraction_mask(values: torch.Tensor, rho: float) -> torch.Tensor:
    """Boolean mask of the `keep_count(n, rho)` entries of largest |values| (at least one entry)."""
    flat = values.detach().abs().flatten()
    k = keep_count(flat.numel(), rho)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[torch.topk(flat, k, sorted=False).indices] = True
    return mask.view_as(values)


class PartialStep:
    """Applies an optimiser step to the top-`rho_u` share of each parameter tensor by |gradient|.

    Counts how often each entry was updated, for the "masks" diagnostics.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, rho_u: float) -> None:
        self.params = {name: p for name, p in model.named_parameters() if p.requires_grad}
        self.optimizer = optimizer
        self.rho_u = rho_u
        # on the parameters' device, read back once at the end (no per-step copy to the host)
        self.counts = {name: torch.zeros_like(p, dtype=torch.int32) for name, p in self.params.items()}
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        """Call after `loss.backward()`: selects, steps, and restores every non-selected entry."""
        masks, before = {}, {}
        for name, p in self.params.items():
            if p.grad is None:
                masks[name] = torch.zeros_like(p, dtype=torch.bool)
            else:
                masks[name] = top_fraction_mask(p.grad, self.rho_u)
            before[name] = p.detach().clone()
        self.optimizer.step()
        for name, p in self.params.items():
            p.copy_(torch.where(masks[name], p, before[name]))
            self.counts[name] += masks[name] & (p != before[name])
        self.steps += 1

    def masks_diagnostics(self) -> dict[str, dict]:
        return count_masks({name: c.cpu() for name, c in self.counts.items()})


def touched_steps(log: UpdateLog, forget_idx: torch.Tensor) -> list[int]:
    """Recorded training steps whose batch held at least one sample to forget."""
    return log.steps_touching(forget_idx.cpu())


def subtract_recorded_updates(
    model: nn.Module, log: UpdateLog, steps: list[int], rho: float
) -> dict[str, torch.Tensor]:
    """Theta <- theta - sum over `steps` of each step's update pruned per layer to its top-rho entries.

    Pruning the top-rho of a stored step here equals pruning at record time as long as rho does not exceed the
    rho the log was recorded at (the top-k of a top-k' list, k <= k', is the top-k of the whole). Returns
    per-entry counts of how many subtracted steps changed each parameter (kept a non-zero value), keyed by name.
    """
    if rho > log.rho:
        raise ValueError(f"cannot prune to rho={rho}: the updates were recorded at rho={log.rho}")
    slices = log.layer_slices()
    total = torch.zeros(log.numel, dtype=torch.float32)
    touched = torch.zeros(log.numel, dtype=torch.int32)
    if rho == log.rho < 1.0:
        # recorded at this rho, as the paper's Alg. 1 stores them: the stored entries are each step's top-rho ones,
        # added in step order (index_add_ on the CPU runs through the index in order)
        if steps:
            positions = torch.cat([log.positions[t] for t in steps]).long()
            values = torch.cat([log.values[t] for t in steps]).float()
            total.index_add_(0, positions, values)
            touched = torch.bincount(positions[values != 0], minlength=log.numel).to(torch.int32)
    else:
        # steps are pruned a block at a time (one top-k per layer over a (steps, entries) block instead of one per
        # step and layer) and added one step after another, in step order, so the sums are those of a plain loop
        chunk = max(1, PRUNE_CHUNK_ENTRIES // max(log.numel, 1))
        for first in range(0, len(steps), chunk):
            dense = torch.stack([log.dense_step(t).float() for t in steps[first:first + chunk]])
            if rho < 1.0:
                kept = torch.zeros_like(dense)
                for sl in slices:
                    part = dense[:, sl]
                    top = torch.topk(part.abs(), keep_count(part.shape[1], rho), dim=1, sorted=False).indices
                    kept[:, sl] = torch.zeros_like(part).scatter_(1, top, part.gather(1, top))
                dense = kept
            for row in dense:
                total += row
                touched += (row != 0).to(torch.int32)
    params = dict(model.named_parameters())
    missing = [name for name in log.names if name not in params]
    if missing:
        raise ValueError(f"recorded updates name parameters the model lacks: {', '.join(missing[:3])}")
    counts = {}
    with torch.no_grad():
        for name, shape, sl in zip(log.names, log.shapes, slices, strict=True):
            p = params[name]
            p.sub_(total[sl].view(shape).to(device=p.device, dtype=p.dtype))
            counts[name] = touched[sl].view(shape)
    return counts


def storage_diagnostics(log: UpdateLog, rho: float, steps_touched: int) -> dict:
    """Stored megabytes of the whole update log at keep ratio rho, against full (rho = 1) storage, and what the
    base model's log really takes on disk (`recorded_mb`, at the rho it was recorded with)."""
    mb = 1024 * 1024
    return {
        "rho": rho,
        "recorded_rho": log.rho,
        "recorded_mb": log.recorded_bytes() / mb,
        "stored_mb": log.stored_bytes(rho) / mb,
        "full_mb": log.stored_bytes(1.0) / mb,
        "steps_touched": steps_touched,
        "steps_total": log.num_steps,
        "curve": [{"rho": r, "stored_mb": log.stored_bytes(r) / mb} for r in STORAGE_CURVE_RHOS],
    }


def count_masks(counts: dict[str, torch.Tensor]) -> dict[str, dict]:
    """{layer: {"updated_fraction": share of entries changed at least once, "count": 2-D heatmap of counts}}."""
    return {name: {"updated_fraction": float((c > 0).float().mean()), "count": as_heatmap(c)}
            for name, c in counts.items()}


def share_text(touched: int, total: int) -> str:
    share = touched / total if total else math.nan
    return f"{touched} of {total} recorded training steps ({share:.0%})"


@dataclass(frozen=True)
class PartialUpdateConfig(MethodConfig):
    rho_u: float = param(0.01, min=1e-4, max=1.0, log=True,
                         help="per-layer share of parameters updated each step (top |gradient|); 1 = full update",
                         paper="not available (no official code)")
    use_retain: bool = param(True, help="add a cross-entropy term on retain batches",
                              paper="not available (no official code)", why="our default; see the card")
    retain_weight: float = param(1.0, min=0.0, max=100.0, help="weight of the retain term",
                                  paper="not available (no official code)")
    epochs: int = param(20, min=1, max=500, help="maximum passes over the forget set",
                         paper="not available (no official code)")
    lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="learning rate", paper="not available (no official code)")
    optimizer: str = param("adam", choices=("adam", "sgd"), help="optimiser (SGD uses momentum 0.9)",
                               paper="not available (no official code)")
    batch_size: int = param(64, min=1, max=4096, help="forget mini-batch size (retain batches match it)",
                            paper="not available (no official code)")
    stop_at: str = param(
        "auto", choices=("auto", "target", "never"),
        help="auto: whole classes stop at target_forget_acc, images at the model's test accuracy; "
             "target: always target_forget_acc; never: run every epoch",
        paper="none (our stopping rule)",
    )
    target_forget_acc: float = param(0.0, min=0.0, max=1.0, help="forget accuracy at which to stop",
                                     paper="none (our stopping rule)")


class PartialUpdateMethod(UnlearningMethod):
    """Layer-wise partial updates (Gogineni & Nadimi, Alg. 2/3) around a forget objective given by subclasses."""

    panels = (MASKS_PANEL, HISTORY_PANEL)
    Config = PartialUpdateConfig

    @abstractmethod
    def forget_loss(self, logits: torch.Tensor, y: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
        """The loss minimised on a forget batch (y: true labels, wrong: this epoch's random wrong labels)."""

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: PartialUpdateConfig,
                ctx: UnlearnContext) -> UnlearnResult:
        xf, yf = splits.forget()
        xr, yr = splits.retain()
        gen = ctx.generator()
        train_retain = cfg.use_retain and len(yr) > 0
        # with a retain term the history's retain accuracy is read from its batches' logits, for free
        monitor_idx = None if train_retain else \
            torch.randperm(len(yr), generator=ctx.generator(1))[:MONITOR_SIZE].to(ctx.device)
        target, target_text = self._target(splits, cfg, model)
        optimizer = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, 0.9, 0.0)
        partial = PartialStep(model, optimizer, cfg.rho_u)
        history, stopped = [], None
        for epoch in range(1, cfg.epochs + 1):
            wrong = random_wrong_labels(yf, splits.num_classes, gen)
            model.train()
            retain_hits = retain_seen = 0
            for idx in minibatches(len(yf), cfg.batch_size, gen, ctx.device):
                loss = self.forget_loss(model(xf[idx]), yf[idx], wrong[idx])
                if train_retain:
                    ridx = torch.randint(0, len(yr), (len(idx),), generator=gen).to(ctx.device)
                    retain_logits = model(xr[ridx])
                    loss = loss + cfg.retain_weight * F.cross_entropy(retain_logits, yr[ridx])
                    retain_hits += int((retain_logits.detach().argmax(1) == yr[ridx]).sum())
                    retain_seen += len(ridx)
                check_finite_loss(loss, f"{self.name} epoch {epoch}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                partial.step()
            forget_acc = accuracy(model, xf, yf)  # the stop rule reads it after every epoch
            retain_acc = retain_hits / retain_seen if train_retain else \
                accuracy(model, xr[monitor_idx], yr[monitor_idx])
            history.append({"epoch": epoch, "forget_acc": forget_acc, "retain_acc": retain_acc})
            ctx.report(epoch / cfg.epochs, f"epoch {epoch}/{cfg.epochs}, forget acc {forget_acc:.3f}")
            if target is not None and forget_acc <= target:
                stopped = epoch
                break
        model.eval()
        notes = [f"each step updated the top {cfg.rho_u:g} share of every layer by |gradient|; retain term "
                 + ("on" if cfg.use_retain else "off")]
        if target is not None:
            notes.append(f"stop rule: {target_text}; " + (f"reached after epoch {stopped}" if stopped else
                                                          f"not reached in {cfg.epochs} epochs"))
        return UnlearnResult(model, {"masks": partial.masks_diagnostics(), "history": history}, notes)

    @staticmethod
    def _target(splits: Splits, cfg: PartialUpdateConfig, model: nn.Module) -> tuple[float | None, str]:
        if cfg.stop_at == "never":
            return None, ""
        if cfg.stop_at == "target" or splits.scenario == "class":
            return cfg.target_forget_acc, f"forget accuracy <= {cfg.target_forget_acc:g}"
        x_test, y_test = splits.test()
        level = accuracy(model, x_test, y_test)
        return level, (f"forget accuracy <= the original model's test accuracy ({level:.3f}), the level a model "
                       "that never saw these images would show")
