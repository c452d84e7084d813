"""Fisher forgetting (Golatkar, Achille, Soatto, CVPR 2020): add noise shaped by the inverse Fisher of the
retain set, so weights the retain set does not pin down are scrambled.

1. Diagonal Fisher on retain images: F = mean_x sum_y p(y|x) (d/dtheta log p(y|x))^2, from per-sample Jacobians
   of the log-probabilities (torch.func vmap + jacrev, unlearn_core/persample.py). Per-sample gradients are the
   expensive part, so only a seeded random subset of at most `max_retain_samples` retain images is used (the run's
   notes say how many).
2. As in the authors' code (`get_mean_var`): var = 1 / (F + 1e-8), clamped at 1e3 (1e2 for the classifier),
   times alpha, averaged over dim 1 of every matrix/kernel; x10 for the classifier and for 1-D parameters.
   For class forgetting the code also resets the forgotten classes' classifier rows to mean 0 with variance
   1e-4 (before the x10); `reset_forgotten_rows` keeps that step switchable.
3. theta <- mu + sqrt(var) * eps, eps ~ N(0, I), with mu = theta_0 (or 0 on the reset rows).

Diagnostics:
- "noise_scale": {param name: mean noise standard deviation sqrt(var)};
- "fisher_mean": {param name: mean diagonal Fisher entry};
- "retain_samples_used": int, "retain_samples_available": int.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core import persample
from unlearn_core.data import Splits
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


def diagonal_fisher(
    model: nn.Module, x: torch.Tensor, num_classes: int, ctx: UnlearnContext
) -> dict[str, torch.Tensor]:
    """Mean over x of sum_y p(y|x) * (grad log p(y|x))^2 per parameter entry (model in eval mode), computed by
    `unlearn_core.persample.diagonal_fisher` (vmap + jacrev in memory-bounded chunks)."""
    model.eval()

    def report(done: int, total: int) -> None:
        ctx.report(0.9 * done / total, "per-sample Fisher on the retain subset")

    return persample.diagonal_fisher(model, x, num_classes=num_classes, progress=report)


def classifier_names(model: nn.Module) -> set[str]:
    """Parameter names of the last linear layer (the code's 'p.size(0) == num_classes' tensors)."""
    last = None
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = module_name
    if last is None:
        return set()
    prefix = f"{last}." if last else ""
    return {f"{prefix}weight", f"{prefix}bias"}


@register_method("fisher_forgetting")
class FisherForgetting(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="eval",  # on any architecture (MethodInfo.edits)
        title="Fisher forgetting",
        summary="One shot: add noise where the retain set's Fisher information says the weights do not matter.",
        paper="Golatkar, Achille, Soatto, 'Eternal sunshine of the spotless net', CVPR 2020 (arXiv:1911.04933)",
        family="baseline",
        needs_retain=True,
        needs_forget_data=False,
        one_shot=True,
        inferred="The Fisher is computed on a capped random subset of the retain set (the original uses all of "
                 "it). The classifier is identified as the last linear layer (the code tests p.size(0) == C).",
    )

    @dataclass(frozen=True)
    class Config(MethodConfig):
        alpha: float = param(1e-6, min=1e-10, max=1e-2, log=True,
                             help="noise scale: var = alpha / Fisher", paper="1e-6 (SSD repo, SCRUB notebooks)")
        max_retain_samples: int = param(256, min=1, max=100_000,
                                        help="cap on retain images for the per-sample Fisher",
                                        paper="every retain image", why="per-sample gradients are slow")
        reset_forgotten_rows: bool = param(True, help="class forgetting: set the forgotten classes' classifier "
                                                      "rows to 0 plus small noise", paper="on (authors' code)")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        xr, _ = splits.retain()
        available = len(xr)
        used = min(cfg.max_retain_samples, available)
        subset = torch.randperm(available, generator=ctx.generator(1))[:used].to(ctx.device)
        num_classes = splits.num_classes
        fisher = diagonal_fisher(model, xr[subset], num_classes, ctx)
        classifier = classifier_names(model)
        reset_rows = list(splits.forget_classes) if cfg.reset_forgotten_rows and splits.scenario == "class" else []
        noise_gen = ctx.generator(0)
        noise_scale, fisher_mean = {}, {}
        with torch.no_grad():
            for name, p in model.named_parameters():
                is_classifier = name in classifier
                var = (1.0 / (fisher[name] + 1e-8)).clamp(max=1e2 if is_classifier else 1e3) * cfg.alpha
                if p.dim() > 1:
                    var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
                mu = p.detach().clone()
                if is_classifier and reset_rows:
                    mu[reset_rows] = 0.0
                    var[reset_rows] = 1e-4
                if is_classifier or p.dim() == 1:
                    var = var * 10
                eps = torch.randn(p.shape, generator=noise_gen).to(p.device, p.dtype)
                p.copy_(mu + var.sqrt() * eps)
                noise_scale[name] = float(var.sqrt().mean())
                fisher_mean[name] = float(fisher[name].mean())
        ctx.report(1.0, "noise added")
        notes = [f"Fisher computed on {used} of {available} retain images "
                 f"(max_retain_samples={cfg.max_retain_samples})"]
        if reset_rows:
            notes.append(f"classifier rows of class(es) {', '.join(map(str, reset_rows))} reset to 0 plus noise, "
                         "as in the authors' code")
        return UnlearnResult(model, {"noise_scale": noise_scale, "fisher_mean": fisher_mean,
                                     "retain_samples_used": used, "retain_samples_available": available}, notes)
