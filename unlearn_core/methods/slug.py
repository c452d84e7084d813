"""SLUG (Cai et al., ICML 2025): one gradient, one layer, one step whose size a binary search picks.

What happens (methods.md sections 3.3, 3.7 and 11, adapted from CLIP to classifiers):
1. Once, at the original weights: g_f = gradient of the mean forget-set cross-entropy, g_r = the same on a fixed
   seeded subset of the retain set (`retain_samples`). Model in eval mode (BatchNorm statistics untouched).
2. Candidate tensors, as the official code: every parameter except biases and 0-dimensional tensors (and names with
   `logit_scale`, `position` or `embedding`); 1-D normalisation weights are candidates (the official line that would
   drop them is commented out). `candidates="matrices"` keeps conv/linear-style tensors (2-D and more) only.
   For every candidate: importance = ||g_f|| / ||theta||, alignment = |cos(g_f, g_r)|.
3. Pareto front: a layer stays unless another has strictly lower alignment AND strictly higher importance.
4. Every front layer gets its own step-size search, as the official code runs one per front layer:
   theta_l(lambda) = theta_l + lambda * g_f,l (ascent on the forget loss), every other tensor untouched. lambda
   starts at 0.1 ||theta_l|| / ||g_f,l||, doubles until the forget target is met, then bisects (`search_steps`
   evaluations). Target: class scenarios, forget accuracy <= `forget_target`; random/images scenarios, forget
   accuracy down to the original model's held-out (test) accuracy, our estimate of what retraining would give.
5. The stated rule picks the edit: within a layer, the logged lambda meeting the target with the best retain
   accuracy (ties: the smaller step); across the front, the layer whose pick has the best retain accuracy (ties: the
   smaller relative change ||lambda g|| / ||theta||). The paper picks by hand from the same logs ("forget accuracy
   0, highest utility"). `layer` names one tensor instead, and only it is searched.
6. Several forgotten classes: by default one such single-layer step per class (the paper's modular use), applied in
   turn, each with its own front and searches; gradients are all taken at the original weights.

Diagnostics:
    "layer_scores": [{"layer": str, "importance": float, "alignment": float, "numel": int, "on_front": bool}],
    "pareto_front": [layer names], "chosen_layer": str, "lambda": float,
    "step_search": [{"step": int, "lambda": float, "forget_acc": float, "retain_acc": float, "test_acc": float,
                     "meets_target": bool}] (the chosen layer's),
    "front_search": [{"layer": str, "importance": float, "alignment": float, "lambda": float, "forget_acc": float,
                      "retain_acc": float, "test_acc": float, "meets_target": bool, "relative_change": float,
                      "chosen": bool, "step_search": [...]}], one entry per searched layer, front order,
    "gradient": tensor, the chosen layer's forget gradient (re-applied by `apply_step` for a what-if slider),
    "forget_target": float, the forget accuracy the search had to reach,
    "per_class": [{"class": int, "chosen_layer": str, "lambda": float, "step_search": [...], "layer_scores": [...],
                   "pareto_front": [...], "front_search": [...], "gradient": tensor}] (only when several classes are
                   forgotten one by one; the top-level keys then describe the first class).
Accuracies in the search are measured on seeded subsamples of at most `eval_samples` images per split; the Lab's
reported metrics use the full sets.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._common import accuracy
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    MethodNotApplicable,
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

GRADIENT_BATCH = 512  # only bounds memory: the gradient is the exact mean over the whole set
CANDIDATE_SETS = ("official", "matrices")
EXCLUDED_NAME_PARTS = ("bias", "logit_scale", "position", "embedding")  # the official unlearn_slug.py's exclusions


def candidate_tensors(model: nn.Module, candidates: str = "official") -> dict[str, nn.Parameter]:
    """The tensors SLUG may edit: the official exclusions, optionally restricted to tensors of 2 dimensions or more."""
    min_dim = 2 if candidates == "matrices" else 1
    return {name: p for name, p in model.named_parameters()
            if p.dim() >= min_dim and not any(part in name for part in EXCLUDED_NAME_PARTS)}


def apply_step(model: nn.Module, layer_name: str, gradient: torch.Tensor, lam: float) -> nn.Module:
    """Adds lam * gradient to one weight tensor, in place (pass a copy of the original model)."""
    weight = model.get_parameter(layer_name)
    with torch.no_grad():
        weight.add_(gradient.to(weight.device, weight.dtype), alpha=lam)
    return model


def pareto_front(scores: list[dict[str, Any]]) -> list[str]:
    """Layers no other layer beats on both counts (strictly lower alignment and strictly higher importance)."""
    return [
        s["layer"] for s in scores
        if not any(o["alignment"] < s["alignment"] and o["importance"] > s["importance"] for o in scores)
    ]


def search_step_size(evaluate: Callable[[float], dict[str, Any]], lam0: float, steps: int) -> list[dict[str, Any]]:
    """SLUG's step-size search: double lambda until the target is met, then bisect between the last miss and hit.

    `evaluate(lam)` returns a dict with at least "meets_target"; the log of every evaluation is returned.
    """
    lam, lo, hi = lam0, 0.0, math.inf
    log = []
    for step in range(1, steps + 1):
        entry = {"step": step, "lambda": lam, **evaluate(lam)}
        log.append(entry)
        if entry["meets_target"]:
            hi = lam
        else:
            lo = lam
        lam = 2 * lam if math.isinf(hi) else (lo + hi) / 2
    return log


def best_step(log: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The logged step meeting the target with the best retain accuracy, the smaller lambda on ties."""
    hits = [e for e in log if e["meets_target"]]
    return max(hits, key=lambda e: (e["retain_acc"], -e["lambda"])) if hits else None


def best_layer(front_search: list[dict[str, Any]]) -> dict[str, Any]:
    """Across the searched layers: the best retain accuracy among picks meeting the target (ties: the smaller
    relative change); when none meets it, the pick that forgot most."""
    hits = [e for e in front_search if e["meets_target"]]
    if hits:
        return max(hits, key=lambda e: (e["retain_acc"], -e["relative_change"]))
    return min(front_search, key=lambda e: (e["forget_acc"], -e["retain_acc"]))


def _mean_ce_gradient(model: nn.Module, weights: dict[str, nn.Parameter], x: torch.Tensor,
                      y: torch.Tensor) -> dict[str, torch.Tensor]:
    total = {name: torch.zeros_like(w) for name, w in weights.items()}
    names = list(weights)
    for start in range(0, len(y), GRADIENT_BATCH):
        loss = F.cross_entropy(model(x[start:start + GRADIENT_BATCH]), y[start:start + GRADIENT_BATCH],
                               reduction="sum") / len(y)
        for name, g in zip(names, torch.autograd.grad(loss, [weights[n] for n in names]), strict=True):
            total[name] += g
    return total


def layer_scores(weights: dict[str, nn.Parameter], g_forget: dict[str, torch.Tensor],
                 g_retain: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    """Importance ||g_f|| / ||theta|| and alignment |cos(g_f, g_r)| of every weight tensor, with front membership."""
    scores = []
    for name, w in weights.items():
        gf, gr = g_forget[name].flatten(), g_retain[name].flatten()
        denom = gf.norm() * gr.norm()
        scores.append({
            "layer": name,
            "importance": float(gf.norm() / w.detach().norm().clamp_min(1e-12)),
            "alignment": float((gf @ gr).abs() / denom) if denom > 0 else 0.0,
            "numel": int(w.numel()),
        })
    front = set(pareto_front(scores))
    for s in scores:
        s["on_front"] = s["layer"] in front
    return scores


def _subsample(x: torch.Tensor, y: torch.Tensor, count: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    if count <= 0 or len(y) <= count:
        return x, y
    idx = torch.randperm(len(y), generator=generator)[:count].to(y.device)
    return x[idx], y[idx]


def _layer_figures(diag: dict[str, Any], ctx: PanelContext) -> list[PanelFigure]:
    from unlearn_core.viz import inside

    scatter = inside.slug_scatter(diag["layer_scores"], diag.get("pareto_front", []), diag.get("chosen_layer"))
    out = [PanelFigure(scatter,
                       f"Layer importance against gradient alignment; chosen layer: {diag.get('chosen_layer')}.")]
    if diag.get("step_search"):
        out.append(PanelFigure(inside.slug_step_search(diag["step_search"], chosen_lambda=diag.get("lambda"))))
    if len(diag.get("front_search") or []) > 1:
        out.append(PanelFigure(inside.slug_front_search(diag["front_search"]),
                               "Every layer on the front gets its own step search, as in the official code; the kept "
                               "one has the best retain accuracy among the picks that meet the forget target."))
    for item in diag.get("per_class") or []:
        if item.get("step_search"):
            out.append(PanelFigure(inside.slug_step_search(
                item["step_search"], f"SLUG step search for class {item['class']} (layer {item.get('chosen_layer')})",
                chosen_lambda=item.get("lambda"))))
    if diag.get("chosen_layer"):
        lam = diag.get("lambda")
        out.append(PanelFigure(None, f"Chosen layer {diag['chosen_layer']}"
                                     + (f", step λ = {lam:.3g}" if lam is not None else "")))
    return out


def _step_choices(diag: dict[str, Any], params: dict[str, Any]) -> tuple[list[float], float]:
    return [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0], 1.0


def _replay_step(original: nn.Module, diag: dict[str, Any], params: dict[str, Any], factor: float) -> WhatIfOutcome:
    lam = float(diag["lambda"]) * factor
    model = apply_step(copy.deepcopy(original), diag["chosen_layer"], diag["gradient"], lam)
    return WhatIfOutcome(f"λ = {lam:.3g} on {diag['chosen_layer']}", model=model)


LAYER_PANEL = Panel(
    title="which single layer to edit",
    caption="SLUG scores every weight tensor by how much it matters to the forget set (importance, up) and how much "
            "its forget gradient also moves the retain set (alignment, left is better); it edits one layer on the "
            "Pareto front with one gradient step whose size is searched.",
    key="layer_scores", figures=_layer_figures,
    whatif=WhatIf("Step size, relative to the chosen λ", "gradient", _step_choices, _replay_step,
                  "This run stored no gradient to replay."))


@register_method("slug")
class SLUG(UnlearningMethod):
    info = MethodInfo(
        edits=("conv", "linear", "attention", "norm", "head", "other"), norm_mode="eval",  # any architecture
        title="SLUG: single layer unlearning gradient",
        summary="One forget gradient, one layer picked on an importance/alignment Pareto front, one searched step.",
        paper="Cai, Tan, Asif, ICML 2025, arXiv:2407.11867",
        family="seed",
        needs_retain=True,
        scenarios=("class", "random", "images"),
        one_shot=True,
        inferred=(
            "The paper works on CLIP; the classifier adaptation is ours: cross-entropy replaces the cosine and "
            "contrastive losses, the forget target for classes is top-1 forget accuracy <= forget_target instead of "
            "top-5 zero-shot accuracy == 0, random/images forgetting stops at the original model's test accuracy "
            "(an estimate of the retrained model's), utility is retain accuracy on a subsample, gradients are taken "
            "in eval mode, and the per-class modular edit for several classes gets its gradients at the original "
            "weights."
        ),
    )
    panels = (LAYER_PANEL,)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        layer: str = param("", help="tensor to edit, e.g. 'f1.weight'; empty = search every layer on the front and "
                                    "keep the best", paper="empty (every front layer is searched and logged)")
        candidates: str = param("official", choices=CANDIDATE_SETS,
                                help="tensors scored: official = all but biases (1-D normalisation weights "
                                     "included); matrices = conv/linear weights only", paper="official")
        retain_samples: int = param(512, min=1, max=1_000_000,
                                    help="retain images for the one retain gradient (fixed seeded subset)",
                                    paper="one LAION-400M shard (CLIP)",
                                    why="a seeded subset is enough for one gradient of a small classifier")
        search_steps: int = param(10, min=1, max=40, help="evaluations in each layer's step-size search",
                                  paper="10")
        forget_target: float = param(
            0.0, min=0.0, max=1.0,
            help="class forgetting: forget accuracy to reach (0 = the paper's 'accuracy == 0', read as top-1)",
            paper="0 (top-5 zero-shot accuracy, CLIP)",
        )
        eval_samples: int = param(512, min=0, max=1_000_000,
                                  help="images per split evaluated during the search (0 = all)",
                                  paper="0 (full forget set; 5% of ImageNet val for utility)",
                                  why="keeps the searches of every front layer fast")
        multiclass: str = param("per_class", choices=("per_class", "joint"),
                                help="several classes: one step per class (paper) or one joint step",
                                paper="per_class")

    def check_inputs(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config) -> None:
        weights = candidate_tensors(model, cfg.candidates)
        if cfg.layer and cfg.layer not in weights:
            raise MethodNotApplicable(f"layer {cfg.layer!r} is not a candidate tensor ({cfg.candidates}); choose one "
                                      f"of {', '.join(weights)}")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        model.eval()
        self.check_inputs(model, splits, artifacts, cfg)
        weights = candidate_tensors(model, cfg.candidates)
        xf, yf = splits.forget()
        xr, yr = _subsample(*splits.retain(), cfg.retain_samples, ctx.generator(1))
        g_retain = _mean_ce_gradient(model, weights, xr, yr)
        xr_eval, yr_eval = _subsample(*splits.retain(), cfg.eval_samples, ctx.generator(2))
        xt_eval, yt_eval = _subsample(*splits.test(), cfg.eval_samples, ctx.generator(3))
        if splits.scenario == "class":
            target = cfg.forget_target
        else:
            target = accuracy(model, xt_eval, yt_eval)
        per_class_mode = splits.scenario == "class" and len(splits.forget_classes) > 1 and cfg.multiclass == "per_class"
        groups = [(c, yf == c) for c in splits.forget_classes] if per_class_mode else [(None, None)]
        forget_sets = [(xf, yf) if mask is None else (xf[mask], yf[mask]) for _, mask in groups]
        g_forget = [_mean_ce_gradient(model, weights, x, y) for x, y in forget_sets]
        ctx.report(0.1, "gradients computed")

        edits, notes = [], []
        for i, ((cls, _), (xf_g, yf_g), grads) in enumerate(zip(groups, forget_sets, g_forget, strict=True)):
            xf_eval, yf_eval = _subsample(xf_g, yf_g, cfg.eval_samples, ctx.generator(4 + i))
            scores = layer_scores(weights, grads, g_retain)
            front = [s["layer"] for s in scores if s["on_front"]]
            searched = [cfg.layer] if cfg.layer else [n for n in front if grads[n].norm() > 0]
            if not searched:
                raise MethodNotApplicable("every front layer's forget gradient is zero: a step cannot change anything")
            if grads[searched[0]].norm() == 0:
                raise MethodNotApplicable(f"the forget gradient of {searched[0]} is zero: a step cannot change "
                                          "anything")
            by_layer = {s["layer"]: s for s in scores}
            front_search = []
            for j, name in enumerate(searched):
                weight, gradient = weights[name], grads[name]
                start = weight.detach().clone()

                def evaluate(lam: float, weight=weight, start=start, gradient=gradient, xf_eval=xf_eval,
                             yf_eval=yf_eval) -> dict[str, Any]:
                    with torch.no_grad():
                        weight.copy_(start + lam * gradient)
                    forget_acc = accuracy(model, xf_eval, yf_eval)
                    return {"forget_acc": forget_acc, "retain_acc": accuracy(model, xr_eval, yr_eval),
                            "test_acc": accuracy(model, xt_eval, yt_eval), "meets_target": forget_acc <= target}

                lam0 = 0.1 * float(start.norm() / gradient.norm())
                log = search_step_size(evaluate, lam0, cfg.search_steps)
                with torch.no_grad():
                    weight.copy_(start)  # every layer is searched from the original weights
                pick = best_step(log) or min(log, key=lambda e: (e["forget_acc"], -e["lambda"]))
                front_search.append({
                    "layer": name, "importance": by_layer[name]["importance"],
                    "alignment": by_layer[name]["alignment"], "lambda": pick["lambda"],
                    "forget_acc": pick["forget_acc"], "retain_acc": pick["retain_acc"], "test_acc": pick["test_acc"],
                    "meets_target": pick["meets_target"],
                    "relative_change": abs(pick["lambda"]) * float(gradient.norm() / start.norm().clamp_min(1e-12)),
                    "chosen": False, "step_search": log,
                })
                ctx.report(0.1 + 0.9 * (i + (j + 1) / len(searched)) / len(groups), f"searched {name}")
            best = best_layer(front_search)
            best["chosen"] = True
            chosen = best["layer"]
            if not best["meets_target"]:
                # shown as a failure to forget, not hidden: the edit that forgot most is kept
                what = "" if cls is None else f" for class {cls}"
                notes.append(f"forget target {target:.3f} not reached{what} in {cfg.search_steps} steps on any of "
                             f"{', '.join(searched)}; kept {chosen} with lambda {best['lambda']:.4g}, forget "
                             f"accuracy {best['forget_acc']:.3f}")
            apply_step(model, chosen, grads[chosen], best["lambda"])
            edits.append({"class": cls, "chosen_layer": chosen, "lambda": best["lambda"],
                          "step_search": best["step_search"], "layer_scores": scores, "pareto_front": front,
                          "front_search": front_search, "gradient": grads[chosen].detach().cpu()})
            if len(searched) > 1:
                notes.append(("" if cls is None else f"class {cls}: ") + f"searched {len(searched)} front layers; "
                             + ", ".join(f"{e['layer']} retain {e['retain_acc']:.3f}"
                                         + ("" if e["meets_target"] else " (missed the target)")
                                         for e in front_search) + f"; kept {chosen}")

        first = edits[0]
        diagnostics = {key: first[key] for key in ("layer_scores", "pareto_front", "chosen_layer", "lambda",
                                                    "step_search", "front_search")}
        diagnostics["gradient"] = first["gradient"].clone()  # the store refuses two names for one tensor's memory
        diagnostics["forget_target"] = target
        if per_class_mode:
            diagnostics["per_class"] = edits
            notes.append("several classes forgotten the modular way: "
                         + ", ".join(f"class {e['class']} on {e['chosen_layer']}" for e in edits))
        elif len(splits.forget_classes) > 1:
            notes.append("several classes forgotten with one joint step")
        return UnlearnResult(model, diagnostics, notes)
