"""Amnesiac unlearning (Graves, Nagisetty & Ganesh, AAAI 2021): subtract full stored updates, then fine-tune.

Every training step whose batch held a sample to forget is undone by subtracting its full recorded parameter
update; a brief fine-tune on retain data then repairs the damage. This is the full-storage baseline that
partial amnesiac unlearning (rho < 1, no fine-tune) is compared against. It never refuses: when the forget set
sits in nearly every batch the subtraction wrecks the model, and the notes say so up front.

Diagnostics:
    "storage": {"rho": 1, "recorded_rho", "recorded_mb", "stored_mb", "full_mb", "steps_touched", "steps_total",
                "curve": [{"rho", "stored_mb"}]}
    "masks": {param_name: {"updated_fraction", "count": 2-D tensor of subtracted steps per entry}}
    "history": [{"step", "forget_acc", "retain_acc"}]: step 0 is right after the subtraction, then every
        `eval_every` fine-tuning steps and the last one (retain_acc on at most 2048 retain images)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import accuracy, check_finite_loss, make_optimizer
from unlearn_core.methods._panels import HISTORY_PANEL, MASKS_PANEL, STORAGE_PANEL
from unlearn_core.methods._partial import (
    count_masks,
    share_text,
    storage_diagnostics,
    subtract_recorded_updates,
    touched_steps,
)
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    MethodNotApplicable,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    param,
    register_method,
)

RETAIN_EVAL_SIZE = 2048


@register_method("amnesiac")
class Amnesiac(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="Amnesiac unlearning",
        summary="Subtract the full stored updates of batches that held forget samples, then fine-tune briefly.",
        paper="Graves, Nagisetty & Ganesh, AAAI 2021, arXiv:2010.10981",
        family="baseline",
        needs_retain=True,
        needs_forget_data=True,  # only to chart forget accuracy during the fine-tune; the subtraction needs ids
        needs_artifacts=("update_log",),
    )
    panels = (STORAGE_PANEL, MASKS_PANEL, HISTORY_PANEL)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        finetune_steps: int = param(60, min=0, max=10000, help="retain-set mini-batch steps after the subtraction",
                                    paper="not stated (no official code)")
        lr: float = param(1e-3, min=1e-6, max=1.0, log=True, help="fine-tuning learning rate",
                          paper="not stated (no official code)")
        optimizer: str = param("adam", choices=("adam", "sgd"), help="fine-tuning optimiser",
                               paper="not stated (no official code)")
        batch_size: int = param(64, min=1, max=4096, help="fine-tuning mini-batch size",
                                paper="not stated (no official code)")
        eval_every: int = param(10, min=1, max=1000, help="fine-tuning steps between history points",
                                paper="none (a view of ours)")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        log = artifacts.updates
        if log.rho < 1.0:
            raise MethodNotApplicable(
                f"the base model stored updates pruned to rho={log.rho:g}; full amnesiac needs rho=1 "
                "(use partial_amnesiac for pruned updates)"
            )
        steps = touched_steps(log, splits.forget_idx)
        share = len(steps) / log.num_steps
        notes = [f"the forget set appears in {share_text(len(steps), log.num_steps)}; "
                 "all their updates are subtracted"]
        if share > 0.5:
            notes.append("that is most of training: the subtraction returns the model close to its initialisation "
                         "and the fine-tune has to relearn the retained classes")
        ctx.report(0.05, f"subtracting {len(steps)} stored updates")
        counts = subtract_recorded_updates(model, log, steps, 1.0)
        history = []
        if cfg.finetune_steps > 0:
            history = self._finetune(model, splits, cfg, ctx)
        ctx.report(1.0, "done")
        diagnostics = {"storage": storage_diagnostics(log, 1.0, len(steps)), "masks": count_masks(counts),
                       "history": history}
        return UnlearnResult(model, diagnostics, notes)

    def _finetune(self, model: nn.Module, splits: Splits, cfg: Config, ctx: UnlearnContext) -> list[dict]:
        x, y = splits.retain()
        gen = ctx.generator(1)
        eval_idx = torch.randperm(len(y), generator=gen)[:RETAIN_EVAL_SIZE].to(ctx.device)
        xf, yf = splits.forget()

        def point(step: int) -> dict:
            return {"step": step, "forget_acc": accuracy(model, xf, yf),
                    "retain_acc": accuracy(model, x[eval_idx], y[eval_idx])}

        history = [point(0)]
        opt = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr)
        model.train()
        for step in range(1, cfg.finetune_steps + 1):
            idx = torch.randint(0, len(y), (cfg.batch_size,), generator=gen).to(ctx.device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            check_finite_loss(loss, "amnesiac fine-tuning")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % cfg.eval_every == 0 or step == cfg.finetune_steps:
                history.append(point(step))
                model.train()
                ctx.report(0.05 + 0.95 * step / cfg.finetune_steps, f"fine-tune step {step}/{cfg.finetune_steps}")
        model.eval()
        return history
