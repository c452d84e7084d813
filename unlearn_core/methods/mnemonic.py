"""One-shot unlearning with mnemonic codes (Yamashita, Yamada & Shibata, ACML 2024, arXiv:2306.05670).

The base model was trained with one random code image per class mixed into its data (`mnemonic_t_mix`). To
forget whole classes, the diagonal Fisher information is computed from the C codes alone (one per-sample gradient
per code, vectorised with `torch.func`), and every parameter is moved in proportion to how much more it matters
to the forgotten classes than to the kept ones:

    F_f = (1e-16 + sum over forgotten classes of g_c^2) / n_forgotten,  F_r = the same over the kept classes
    per tensor: s = exp(log F_f - log F_r)  (NaN log-ratios -> 0, +-inf -> the tensor's max finite log-ratio)
    kappa = min(lambda1, lambda2 / max s),  delta = kappa * s
    theta + delta and theta - delta are both built and scored on the codes by
    (1 - accuracy on forgotten codes) + accuracy on kept codes; theta + delta is returned only when its score is
    strictly higher, so a tie returns theta - delta.

Both the floor and the tie rule are the official code's (`get_fishers` starts each Fisher at 1e-16, adds the squared
gradients and divides by the number of codes; `forget` keeps the '+' model only on a strict '>'). The floor matters:
where every code's gradient is zero (about a quarter of the digits CNN's parameters) the ratio is
n_kept / n_forgotten (9 for one class of ten), not 1.

No training image, forget or retain, is read. The sign is chosen on codes, not images, so for some classes it
is the destructive one for real kept-class images (methods.md §10); the notes point this out rather than hide it.

Diagnostics:
    "fisher": {param_name: {"log_ratio": 2-D tensor, (out, in*k*k) for conv, (out, in) for linear, (1, n) biases}}
    "codes": tensor (C, c, h, w), the raw codes
    "kappa": {param_name: float}
    "sign": "+" | "-"
    "sign_scores": {"+": {"forget_code_acc", "retain_code_acc", "score"}, "-": {...}}
    "moved_share": {param_name: {"1e-4": share, "1e-3": share, "1e-2": share}}, share of entries with |delta| above
    "fisher_seconds": float

`fisher_ratio` and `perturb` are public so the dashboard can re-evaluate a lambda slider without recomputing.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import as_heatmap
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    Panel,
    PanelContext,
    PanelFigure,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    WhatIf,
    WhatIfOutcome,
    param,
    register_method,
)
from unlearn_core.persample import per_sample_grads

FISHER_FLOOR = 1e-16
MOVED_THRESHOLDS = ("1e-4", "1e-3", "1e-2")


def per_code_gradients(model: nn.Module, codes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradient of CE(model(code_c), c) for every class c, stacked along a leading class axis (vmap, in eval mode;
    unlearn_core/persample.py)."""
    labels = torch.arange(len(codes), device=codes.device)
    return per_sample_grads(model, codes, labels)


def fisher_ratio(model: nn.Module, codes: torch.Tensor, forget_classes: tuple[int, ...] | list[int]
                 ) -> dict[str, torch.Tensor]:
    """Per-parameter log(F_f / F_r) from the codes alone, with NaN -> 0 and +-inf -> the max finite value.

    The model is put in eval mode (as the method prescribes) and left there.
    """
    model.eval()
    grads = per_code_gradients(model, codes)
    forget = torch.zeros(len(codes), dtype=torch.bool, device=codes.device)
    forget[list(forget_classes)] = True
    n_forget, n_kept = int(forget.sum()), int((~forget).sum())
    log_ratios = {}
    for name, g in grads.items():
        sq = g.detach() ** 2
        # the official order: floor first, then divide by the number of codes (see the module docstring)
        fisher_f = (FISHER_FLOOR + sq[forget].sum(0)) / n_forget
        fisher_r = (FISHER_FLOOR + sq[~forget].sum(0)) / n_kept
        log_ratios[name] = _clean_log_ratio(torch.log(fisher_f) - torch.log(fisher_r))
    return log_ratios


def _clean_log_ratio(log_ratio: torch.Tensor) -> torch.Tensor:
    finite = torch.isfinite(log_ratio)
    top = log_ratio[finite].max() if finite.any() else torch.zeros((), device=log_ratio.device)
    out = torch.where(torch.isnan(log_ratio), torch.zeros_like(log_ratio), log_ratio)
    return torch.where(torch.isinf(out), top.expand_as(out), out)


def perturbation(log_ratios: dict[str, torch.Tensor], lambda1: float, lambda2: float
                 ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Delta = kappa * exp(log_ratio) per tensor, kappa = min(lambda1, lambda2 / max exp(log_ratio))."""
    deltas, kappas = {}, {}
    for name, log_ratio in log_ratios.items():
        s = torch.exp(log_ratio)
        kappa = min(lambda1, lambda2 / s.max().item())
        deltas[name] = kappa * s
        kappas[name] = kappa
    return deltas, kappas


def perturb(model: nn.Module, log_ratios: dict[str, torch.Tensor], lambda1: float, lambda2: float,
            sign: str) -> nn.Module:
    """A copy of `model` moved by +delta (sign "+") or -delta (sign "-"); the original is not touched."""
    if sign not in ("+", "-"):
        raise ValueError(f"sign must be '+' or '-', got {sign!r}")
    deltas, _ = perturbation(log_ratios, lambda1, lambda2)
    edited = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in edited.named_parameters():
            step = deltas[name].to(p.device, p.dtype)
            p.add_(step if sign == "+" else -step)
    return edited.eval()


def choose_sign(scores: dict[str, dict]) -> str:
    """The official rule: '+' only when its code score is strictly higher, so a tie picks '-'."""
    return "+" if scores["+"]["score"] > scores["-"]["score"] else "-"


@torch.no_grad()
def code_scores(model: nn.Module, codes: torch.Tensor, forget_classes: tuple[int, ...] | list[int]) -> dict:
    """Accuracy on the forgotten classes' codes and on the kept classes' codes, and the sign-choice score."""
    model.eval()
    correct = model(codes).argmax(1) == torch.arange(len(codes), device=codes.device)
    forget = torch.zeros(len(codes), dtype=torch.bool, device=codes.device)
    forget[list(forget_classes)] = True
    forget_acc = correct[forget].float().mean().item()
    retain_acc = correct[~forget].float().mean().item()
    return {"forget_code_acc": forget_acc, "retain_code_acc": retain_acc, "score": 1.0 - forget_acc + retain_acc}


def _fisher_figures(diag: dict[str, Any], ctx: PanelContext) -> list[PanelFigure]:
    from unlearn_core.viz import inside
    from unlearn_core.viz import model as vm

    # the figure carries its own how-to-read caption (centred scale, the forgotten class's row boxed)
    out = [PanelFigure(inside.fisher_heatmaps(diag["fisher"], forgotten=ctx.forgotten,
                                              num_classes=len(ctx.class_names) or None))]
    if diag.get("codes") is not None:
        codes = inside.codes_to_images(diag["codes"])
        out.append(PanelFigure(vm.image_tiles(codes, [f"code {c}" for c in ctx.class_names[: len(codes)]], columns=10,
                                              title="The mnemonic codes (one per class)", tile_px=70)))
    if diag.get("moved_share"):
        out.append(PanelFigure(inside.moved_share_bars(diag["moved_share"])))
    if diag.get("sign"):
        out.append(PanelFigure(None, f"Perturbation sign chosen on the codes: {diag['sign']}; "
                                     + ", ".join(f"{k}: κ={v:.2g}" for k, v in (diag.get("kappa") or {}).items())))
    return out


LAMBDA1_CHOICES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2)


def _lambda1_choices(diag: dict[str, Any], params: dict[str, Any]) -> tuple[list[float], float]:
    # the slider starts where the run was: its own lambda1 (the config default for a run that stored none)
    used = float(params.get("lambda1", MnemonicCode.Config().lambda1))
    return sorted({*LAMBDA1_CHOICES, used}), used


def _replay_perturbation(original: nn.Module, diag: dict[str, Any], params: dict[str, Any],
                         lambda1: float) -> WhatIfOutcome:
    tensors = dict(original.named_parameters())
    # the stored log-ratios are reshaped to 2-D heatmaps for display: give them back their parameters' shapes
    log_ratios = {n: v["log_ratio"].reshape(tensors[n].shape).to(tensors[n].device)
                  for n, v in diag["fisher"].items() if n in tensors}
    lambda2 = float(params.get("lambda2", 10.0))
    sign = diag.get("sign", "+")
    return WhatIfOutcome(f"λ₁ = {lambda1:g}, λ₂ = {lambda2:g}, sign {sign}",
                         model=perturb(original, log_ratios, lambda1, lambda2, sign))


FISHER_PANEL = Panel(
    title="Fisher sensitivity",
    caption="The model was trained with one random code image per class. The Fisher information of the codes says "
            "which parameters matter more to the forgotten class than to the others (red); those are moved, without "
            "reading any training image.",
    key="fisher", figures=_fisher_figures,
    whatif=WhatIf("λ₁ (upper bound on the perturbation scale κ)", "fisher", _lambda1_choices, _replay_perturbation,
                  "This run stored no Fisher maps to replay."))


@register_method("mnemonic")
class MnemonicCode(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="eval",  # on any architecture (MethodInfo.edits)
        title="Mnemonic-code one-shot unlearning",
        summary="Fisher information from one code image per class; perturb class-sensitive weights, no data.",
        paper="Yamashita, Yamada & Shibata, ACML 2024, arXiv:2306.05670",
        family="seed",
        needs_retain=False,
        needs_forget_data=False,
        needs_artifacts=("mnemonic_codes",),
        scenarios=("class",),
        scenario_note="the model was trained with one code per class, so the Fisher information from the codes "
                      "describes classes, not individual images",
        one_shot=True,
        known_limits="Seed-dependent on Fashion-MNIST (10,000 images, class 7, benchmarks/fmnist_results.md): "
                     "forgotten on seeds 0 and 2, not on seed 1 (forget accuracy 0.94). A weight that no kept code "
                     "moves has its kept Fisher at the official 1e-16 floor, so one entry's ratio can reach 1e13; "
                     "kappa = lambda2 / max s then caps that whole tensor (seed 1: the head f2.weight at about "
                     "1e-12) and it does not move. The faithful default passes on the held-out seed, so the table "
                     "has no calibrated row; check forget accuracy on images, not only on the codes.",
    )
    panels = (FISHER_PANEL,)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        lambda1: float = param(2e-3, min=1e-8, max=1.0, log=True,
                               help="upper bound on kappa, the scale of delta", paper="1e-3 (MNIST config)",
                               why="calibrated for the digits CNN: 1e-3 leaves 2.5% of class 3's test images "
                                   "recognised")
        lambda2: float = param(10.0, min=1e-4, max=1e5, log=True,
                               help="cap on the largest single move in a tensor (kappa <= lambda2 / max s)",
                               paper="10 (MNIST config)")
        sign: str = param("auto", choices=("auto", "+", "-"),
                          help="auto: the paper's choice by code accuracy (ties: '-'); +/-: override",
                          paper="auto (no override in the official code)")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        codes = artifacts.codes.to(ctx.device)
        forget_classes = splits.forget_classes
        start = time.perf_counter()
        log_ratios = fisher_ratio(model, codes, forget_classes)
        fisher_seconds = time.perf_counter() - start
        ctx.report(0.5, f"Fisher ratio from {len(codes)} codes in {fisher_seconds:.2f} s")
        deltas, kappas = perturbation(log_ratios, cfg.lambda1, cfg.lambda2)
        candidates = {sign: perturb(model, log_ratios, cfg.lambda1, cfg.lambda2, sign) for sign in ("+", "-")}
        scores = {sign: code_scores(m, codes, forget_classes) for sign, m in candidates.items()}
        best = choose_sign(scores)
        sign = best if cfg.sign == "auto" else cfg.sign
        notes = [
            f"sign {sign} " + ("chosen by code accuracy" if cfg.sign == "auto" else "forced by the sign option")
            + "; code scores: " + ", ".join(
                f"{s}: forget codes {v['forget_code_acc']:.2f}, kept codes {v['retain_code_acc']:.2f}"
                for s, v in scores.items()),
            "the sign is judged on the codes only, never on images: for some classes it is the one that damages "
            "real kept-class images; compare test accuracy on kept classes with the original",
        ]
        if scores["+"]["score"] == scores["-"]["score"] and cfg.sign == "auto":
            notes.append("both signs score the same on the codes; the official rule then takes '-'")
        if cfg.sign != "auto" and sign != best:
            notes.append(f"the paper's rule would have chosen {best}")
        chosen = dict(candidates[sign].named_parameters())
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(chosen[name])
        moved = {name: {t: float((d.abs() > float(t)).float().mean()) for t in MOVED_THRESHOLDS}
                 for name, d in deltas.items()}
        diagnostics = {
            "fisher": {name: {"log_ratio": as_heatmap(lr)} for name, lr in log_ratios.items()},
            "codes": artifacts.codes.detach().cpu(),
            "kappa": kappas,
            "sign": sign,
            "sign_scores": scores,
            "moved_share": moved,
            "fisher_seconds": fisher_seconds,
        }
        ctx.report(1.0, "done")
        return UnlearnResult(model.eval(), diagnostics, notes)
