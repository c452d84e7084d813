"""Relearn probe: how many fine-tuning steps on the forget data bring the forgotten knowledge back.

A model that only hid what it knew (a suppressed head, a shifted bias) relearns in a handful of steps; a model
that truly never learned it (the retrain oracle) needs about as many steps as learning it fresh. We fine-tune
a copy of each model on the forget set (seeded mini-batches, Adam) and count the steps until its forget-set
accuracy reaches `target_fraction` of the original model's (SCRUB's "readout retrain time", ERASURE's
RelearnTime; peers.md 3.7). The closer the unlearned model's count is to retrain's, the deeper the forgetting.
On demand only (a few seconds on digits).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import Splits
from unlearn_core.methods import UnlearnCancelled
from unlearn_core.models.training import accuracy, make_optimizer


@dataclass(frozen=True)
class RelearnConfig:
    lr: float = 1e-3
    batch_size: int = 32
    max_steps: int = 200
    target_fraction: float = 0.9  # of the original's forget accuracy
    optimizer: str = "adam"

    def validate(self) -> None:
        if not (0 < self.lr <= 1 and 1 <= self.batch_size <= 4096 and 1 <= self.max_steps <= 10000
                and 0 < self.target_fraction <= 1 and self.optimizer in ("adam", "sgd")):
            raise UserInputError("relearn settings out of range: lr in (0, 1], batch 1..4096, steps 1..10000, "
                                 "target fraction in (0, 1], optimizer adam or sgd")


def relearn_curve(model: nn.Module, splits: Splits, target_acc: float, cfg: RelearnConfig, seed: int = 0,
                  stop: threading.Event | None = None) -> dict:
    """Fine-tunes a copy of `model` on the forget set until its forget accuracy reaches `target_acc`.

    Returns {"steps": steps to the target (omitted if never reached), "reached": bool,
             "curve": forget accuracy before step 1 and after each step, "retain_acc_after": float}."""
    xf, yf = splits.forget()
    work = copy.deepcopy(model)
    opt = make_optimizer(work.parameters(), cfg.optimizer, cfg.lr)
    gen = torch.Generator().manual_seed(seed + 6007)
    curve = [accuracy(work, xf, yf)]
    steps = 0 if curve[0] >= target_acc else None
    order = torch.randperm(len(yf), generator=gen)
    cursor = 0
    for step in range(1, cfg.max_steps + 1):
        if steps is not None:
            break
        if stop is not None and stop.is_set():
            raise UnlearnCancelled("cancelled by the user")
        if cursor >= len(order):
            order, cursor = torch.randperm(len(yf), generator=gen), 0
        idx = order[cursor : cursor + cfg.batch_size].to(xf.device)
        cursor += cfg.batch_size
        work.train()
        loss = F.cross_entropy(work(xf[idx]), yf[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve.append(accuracy(work, xf, yf))
        if curve[-1] >= target_acc:
            steps = step
    xr, yr = splits.retain()
    out = {"reached": steps is not None, "curve": curve, "retain_acc_after": accuracy(work, xr, yr)}
    if steps is not None:
        out["steps"] = steps
    return out


def relearn_probe(unlearned: nn.Module, original: nn.Module, retrain: nn.Module, splits: Splits,
                  cfg: RelearnConfig | None = None, seed: int = 0, stop: threading.Event | None = None) -> dict:
    """The relearn curves of the unlearned model and of retrain, towards the same target.

    Schema: {"config", "original_forget_acc", "target_acc", "unlearned": relearn_curve(...),
             "retrain": relearn_curve(...), "steps_ratio": unlearned steps / retrain steps (when both reached)}."""
    cfg = cfg or RelearnConfig()
    cfg.validate()
    xf, yf = splits.forget()
    original_acc = accuracy(original, xf, yf)
    target = cfg.target_fraction * original_acc
    out: dict = {"config": asdict(cfg), "original_forget_acc": original_acc, "target_acc": target,
                 "unlearned": relearn_curve(unlearned, splits, target, cfg, seed, stop),
                 "retrain": relearn_curve(retrain, splits, target, cfg, seed, stop)}
    u, r = out["unlearned"].get("steps"), out["retrain"].get("steps")
    if u is not None and r:
        out["steps_ratio"] = u / r
    return out
