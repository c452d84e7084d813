"""Figures of what happens inside each method, drawn from the diagnostics schemas its module documents.

Every builder accepts the stored diagnostics as loaded by `Store.load_run_diagnostics` (tensors come
back as torch tensors) and never raises on a missing optional key: absent views simply are not drawn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from unlearn_core.viz.style import PALETTE, method_color, styled


def to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=float)


def as_2d(value: Any) -> np.ndarray:
    """Any tensor as (rows, columns): vectors become one row, conv kernels (out, in*kh*kw)."""
    arr = to_numpy(value)
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    if arr.ndim == 1:
        return arr.reshape(1, -1)
    return arr.reshape(arr.shape[0], -1)


def _grid(n: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, n))
    return max(1, math.ceil(n / columns)), columns


# A ResNet-50 or a ViT has 50 to 160 weight tensors: grids of per-layer panels show the top few, bar charts the
# top few dozen, each ranked by what the view is about, and the title says how many were left out.
TOP_PANELS, TOP_BARS = 8, 30


def top_layers(scores: dict[str, float], k: int | None) -> tuple[list[str], str]:
    """The `k` highest-scoring layers in their original (model) order, and a title suffix when some are
    left out ('' when all are shown); k=None shows every layer."""
    names = list(scores)
    if k is None or len(names) <= k:
        return names, ""
    ranked = sorted(names, key=lambda n: -(scores[n] if np.isfinite(scores[n]) else -np.inf))[:k]
    keep = set(ranked)
    return [n for n in names if n in keep], f" — top {k} of {len(names)} layers"


# ---- SEMU -----------------------------------------------------------------------------------------------
def semu_spectra(spectra: dict[str, dict], columns: int = 2, top_k: int | None = TOP_PANELS) -> go.Figure:
    """Per layer: singular values (log scale, mean over rows with min-max band), cumulative energy (right
    axis) with the threshold tau, and the chosen rank as a vertical line; the `top_k` layers with the most
    trainable parameters when there are more."""
    layers, left_out = top_layers({n: float(spectra[n].get("trainable", 0)) for n in spectra}, top_k)
    rows, columns = _grid(len(layers), columns)
    titles = []
    for name in layers:
        item = spectra[name]
        titles.append(f"{name} ({item.get('kind', '')}): rank {item.get('rank', '?')}, "
                      f"{int(item.get('trainable', 0)):,} of {int(item.get('numel', 0)):,} params trainable")
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles,
                        specs=[[{"secondary_y": True}] * columns for _ in range(rows)],
                        horizontal_spacing=0.12, vertical_spacing=0.16)
    for i, name in enumerate(layers):
        item = spectra[name]
        row, col = i // columns + 1, i % columns + 1
        sv = as_2d(item["singular_values"])
        idx = np.arange(1, sv.shape[1] + 1)
        first = i == 0
        if sv.shape[0] > 1:
            fig.add_trace(go.Scatter(x=np.r_[idx, idx[::-1]], y=np.r_[sv.max(0), sv.min(0)[::-1]], fill="toself",
                                     mode="lines", line=dict(width=0), fillcolor="rgba(31,119,180,0.15)",
                                     hoverinfo="skip", name="min-max over rows", showlegend=first), row, col)
        fig.add_trace(go.Scatter(x=idx, y=sv.mean(0), mode="lines", line=dict(color="#1f77b4"),
                                 name="singular value σᵢ", showlegend=first,
                                 hovertemplate="σ_%{x}: %{y:.3g}<extra></extra>"), row, col, secondary_y=False)
        if "energy" in item:
            energy = as_2d(item["energy"]).mean(0)
            fig.add_trace(go.Scatter(x=idx, y=energy, mode="lines", line=dict(color="#ff7f0e"),
                                     name="cumulative energy", showlegend=first,
                                     hovertemplate="first %{x}: %{y:.1%}<extra></extra>"), row, col, secondary_y=True)
        if item.get("tau") is not None:
            fig.add_trace(go.Scatter(x=[idx[0], idx[-1]], y=[item["tau"]] * 2, mode="lines",
                                     line=dict(color="#ff7f0e", dash="dot"), name="τ", showlegend=first,
                                     hoverinfo="skip"), row, col, secondary_y=True)
        if item.get("rank") is not None:
            fig.add_vline(x=float(item["rank"]), line=dict(color="#d62728", dash="dash"), row=row, col=col)
        fig.update_yaxes(type="log", row=row, col=col, secondary_y=False)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", row=row, col=col, secondary_y=True)
    fig.update_xaxes(title="index i")
    return styled(fig, "SEMU: singular values per layer (red dashed: chosen rank)"
                  + (left_out and f"{left_out} by trainable parameters"), height=60 + 300 * rows)


def semu_rank_bars(spectra: dict[str, dict], top_k: int | None = TOP_BARS) -> go.Figure:
    """Chosen rank and trainable share per layer (the `top_k` highest ranks when there are more layers)."""
    layers, left_out = top_layers({n: float(spectra[n].get("rank") or 0) for n in spectra}, top_k)
    share = [spectra[n].get("trainable", 0) / max(1, spectra[n].get("numel", 1)) for n in layers]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["chosen rank r", "trainable share of the layer"])
    fig.add_trace(go.Bar(x=layers, y=[spectra[n].get("rank") for n in layers], marker_color="#1f77b4",
                         showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=layers, y=share, marker_color="#ff7f0e", showlegend=False,
                         hovertemplate="%{x}: %{y:.2%}<extra></extra>"), 1, 2)
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    return styled(fig, "SEMU: rank and trainable parameters per layer" + (left_out and f"{left_out} by rank"),
                  height=300)


# ---- SLUG -----------------------------------------------------------------------------------------------
def slug_scatter(layer_scores: list[dict], front: list[str], chosen: str | None) -> go.Figure:
    """Importance against alignment per layer (log-log when all positive); Pareto layers outlined, chosen starred."""
    names = [s["layer"] for s in layer_scores]
    imp = np.array([s["importance"] for s in layer_scores], dtype=float)
    ali = np.array([s["alignment"] for s in layer_scores], dtype=float)
    log_axes = bool((imp > 0).all() and (ali > 0).all())
    fig = go.Figure()
    on_front = [n in front or s.get("on_front") for n, s in zip(names, layer_scores, strict=True)]
    order = sorted((i for i in range(len(names)) if on_front[i]), key=lambda i: ali[i])
    if len(order) > 1:
        fig.add_trace(go.Scatter(x=ali[order], y=imp[order], mode="lines", line=dict(color="#999", dash="dash"),
                                 name="Pareto front", hoverinfo="skip"))
    # on a deep network, names beside every point overlap: only the front and the chosen layer are labelled
    labels = names if len(names) <= TOP_BARS else [n if (f or n == chosen) else "" for n, f in
                                                   zip(names, on_front, strict=True)]
    fig.add_trace(go.Scatter(
        x=ali, y=imp, mode="markers+text", text=labels, textposition="top center", name="layers",
        marker=dict(size=[16 if f else 10 for f in on_front], color=["#d62728" if f else "#1f77b4" for f in on_front],
                    symbol=["star" if n == chosen else "circle" for n in names], line=dict(width=1, color="#222")),
        customdata=[[n, s.get("numel", 0)] for n, s in zip(names, layer_scores, strict=True)],
        hovertemplate="<b>%{customdata[0]}</b><br>alignment %{x:.3g}<br>importance %{y:.3g}<br>"
                      "%{customdata[1]:,} params<extra></extra>",
    ))
    fig.update_xaxes(title="gradient alignment with the retain set (← better)", type="log" if log_axes else "linear")
    fig.update_yaxes(title="layer importance for the forget set (↑ better)", type="log" if log_axes else "linear")
    return styled(fig, f"SLUG: layer importance vs alignment (★ chosen: {chosen or '—'})", height=420)


def slug_step_search(step_search: list[dict], title: str = "SLUG: step-size search") -> go.Figure:
    """Forget / retain / test accuracy at each tried step size; hollow markers missed the target."""
    steps = sorted(step_search, key=lambda s: s.get("lambda", 0))
    lam = [s.get("lambda") for s in steps]
    fig = go.Figure()
    for key, colour in (("forget_acc", "#ff7f0e"), ("retain_acc", "#2ca02c"), ("test_acc", "#1f77b4")):
        if any(key in s for s in steps):
            fig.add_trace(go.Scatter(
                x=lam, y=[s.get(key) for s in steps], mode="lines+markers", name=key.replace("_", " "),
                line=dict(color=colour),
                marker=dict(size=9, symbol=["circle" if s.get("meets_target") else "circle-open" for s in steps]),
            ))
    positive = all(v is not None and v > 0 for v in lam)
    fig.update_xaxes(title="step size λ", type="log" if positive else "linear")
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[0, 1.02])
    return styled(fig, title + " (filled: meets the target)", height=340)


def slug_front_search(front_search: list[dict], title: str = "SLUG: the step search on every front layer"
                      ) -> go.Figure:
    """Forget and retain accuracy against the relative change ||λg|| / ||θ|| for each searched layer (relative, so
    layers of different sizes share one axis); the kept layer is drawn thick and its pick starred."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["forget accuracy", "retain accuracy"],
                        horizontal_spacing=0.1)
    for i, layer in enumerate(front_search):
        steps = sorted(layer.get("step_search") or [], key=lambda s: s.get("lambda", 0))
        if not steps or not layer.get("lambda"):
            continue
        per_lambda = layer.get("relative_change", 0.0) / abs(layer["lambda"])  # ||g|| / ||θ|| of this layer
        x = [abs(s["lambda"]) * per_lambda for s in steps]
        chosen = bool(layer.get("chosen"))
        colour = PALETTE[i % len(PALETTE)]
        name = layer["layer"] + (" (kept)" if chosen else "")
        for col, key in ((1, "forget_acc"), (2, "retain_acc")):
            fig.add_trace(go.Scatter(
                x=x, y=[s.get(key) for s in steps], mode="lines+markers", name=name, legendgroup=layer["layer"],
                showlegend=col == 1, line=dict(color=colour, width=4 if chosen else 1.5),
                marker=dict(size=7, symbol=["circle" if s.get("meets_target") else "circle-open" for s in steps]),
                hovertemplate=f"{layer['layer']}<br>relative change %{{x:.3g}}<br>{key.replace('_', ' ')} "
                              "%{y:.1%}<extra></extra>"), 1, col)
            fig.add_trace(go.Scatter(
                x=[layer["relative_change"]], y=[layer.get(key)], mode="markers", legendgroup=layer["layer"],
                showlegend=False, marker=dict(size=15 if chosen else 10, symbol="star", color=colour,
                                              line=dict(width=1, color="#222")),
                hovertemplate=f"{layer['layer']}: its pick<extra></extra>"), 1, col)
    positive = all(s.get("lambda") for layer in front_search for s in layer.get("step_search") or [])
    fig.update_xaxes(title="relative change ||λg|| / ||θ||", type="log" if positive else "linear")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return styled(fig, title + " (★: each layer's pick; hollow: misses the target)", height=360)


# ---- SSD ------------------------------------------------------------------------------------------------
def ssd_compositions(compositions: dict[str, dict]) -> go.Figure:
    """For one run, each batch composition's dampened parameters and what they cost: kept-class test accuracy and
    forget accuracy after that composition's dampening."""
    kinds = list(compositions)
    labels = [k + (" (applied)" if compositions[k].get("applied") else "") for k in kinds]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["parameters dampened", "accuracy after dampening"],
                        horizontal_spacing=0.12)
    fig.add_trace(go.Bar(
        x=labels, y=[compositions[k].get("selected", 0) for k in kinds], marker_color="#1f77b4", showlegend=False,
        texttemplate="%{y:,}", textposition="outside", cliponaxis=False,
        customdata=[[compositions[k].get("share", 0.0), compositions[k].get("importance_seconds", 0.0)]
                    for k in kinds],
        hovertemplate="%{x}: %{y:,} parameters (%{customdata[0]:.2%})<br>importances in %{customdata[1]:.2f} s"
                      "<extra></extra>"), 1, 1)
    for key, colour, name in (("test_acc_retain_classes", "#2ca02c", "kept-class test accuracy"),
                              ("forget_acc", "#ff7f0e", "forget accuracy")):
        values = [compositions[k].get(key) for k in kinds]
        # printed values keep a bar of 0 % (forgotten) visible
        fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=colour, texttemplate="%{y:.1%}",
                             textposition="outside", cliponaxis=False,
                             hovertemplate="%{x}: %{y:.1%}<extra></extra>"), 1, 2)
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=2)
    return styled(fig, "SSD: the same run's importances with each batch composition", height=320)


# ---- mnemonic code --------------------------------------------------------------------------------------
def fisher_heatmaps(fisher: dict[str, dict], columns: int = 2, max_side: int = 128,
                    top_k: int | None = TOP_PANELS) -> go.Figure:
    """log(F_forget / F_retain) per layer; red: parameters more sensitive to the forgotten class; the `top_k`
    layers with the largest ratio when there are more."""
    layers, left_out = top_layers({n: float(np.nanmax(to_numpy(fisher[n]["log_ratio"]), initial=-np.inf))
                                   for n in fisher if "log_ratio" in fisher[n]}, top_k)
    rows, columns = _grid(len(layers), columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=layers, horizontal_spacing=0.06,
                        vertical_spacing=0.14)
    maps = [as_2d(fisher[n]["log_ratio"])[:max_side, :max_side * 4] for n in layers]
    bound = max([float(np.nanpercentile(np.abs(m), 99)) for m in maps if m.size] + [1e-6])
    for i, m in enumerate(maps):
        fig.add_trace(go.Heatmap(z=m, coloraxis="coloraxis",
                                 hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
                      i // columns + 1, i % columns + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(coloraxis=dict(colorscale="RdBu_r", cmin=-bound, cmax=bound,
                                     colorbar=dict(title="log F_f/F_r")))
    return styled(fig, "Mnemonic code: Fisher sensitivity per layer (rows: output units)"
                  + (left_out and f"{left_out} by largest ratio"), height=60 + 280 * rows)


def codes_to_images(codes: Any) -> np.ndarray:
    """(C, c, h, w) codes in [0, 1) -> (C, h, w, c) uint8."""
    arr = np.clip(to_numpy(codes), 0, 1)
    return (arr.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def moved_share_bars(moved_share: dict[str, dict], top_k: int | None = TOP_BARS) -> go.Figure:
    """Share of each layer's parameters that moved by more than each threshold (the `top_k` layers that moved
    most, at the smallest threshold, when there are more)."""
    thresholds = sorted({t for v in moved_share.values() for t in v}, key=float)
    layers, left_out = top_layers({n: float(moved_share[n].get(thresholds[0]) or 0) if thresholds else 0.0
                                   for n in moved_share}, top_k)
    fig = go.Figure()
    for j, t in enumerate(thresholds):
        fig.add_trace(go.Bar(x=layers, y=[moved_share[n].get(t) for n in layers], name=f"|δ| > {t}",
                             marker_color=PALETTE[j % len(PALETTE)]))
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".1%", title="share of the layer")
    return styled(fig, "Mnemonic code: parameters moved per layer" + (left_out and f"{left_out} by share moved"),
                  height=320)


# ---- partial methods ------------------------------------------------------------------------------------
def mask_heatmaps(masks: dict[str, dict], columns: int = 2, max_side: int = 128,
                  top_k: int | None = TOP_PANELS) -> go.Figure:
    """How often each parameter was updated (count), per layer, with the updated fraction in the title; the
    `top_k` most-updated layers when there are more."""
    layers, left_out = top_layers({n: float(masks[n].get("updated_fraction") or 0) for n in masks
                                   if "count" in masks[n]}, top_k)
    rows, columns = _grid(len(layers), columns)
    titles = [f"{n}: {masks[n].get('updated_fraction', 0):.1%} updated" for n in layers]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=0.14)
    for i, n in enumerate(layers):
        fig.add_trace(go.Heatmap(z=as_2d(masks[n]["count"])[:max_side, :max_side * 4], coloraxis="coloraxis",
                                 hovertemplate="row %{y}, col %{x}: %{z:.0f} updates<extra></extra>"),
                      i // columns + 1, i % columns + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=dict(title="updates")))
    return styled(fig, "Update masks per layer (how many steps touched each parameter)"
                  + (left_out and f"{left_out} by updated share"), height=60 + 280 * rows)


def updated_fraction_bars(masks: dict[str, dict], label: str = "", top_k: int | None = TOP_BARS) -> go.Figure:
    layers, left_out = top_layers({n: float(masks[n].get("updated_fraction") or 0) for n in masks}, top_k)
    fig = go.Figure(go.Bar(x=layers, y=[masks[n].get("updated_fraction") for n in layers],
                           marker_color=method_color(label) if label else "#1f77b4",
                           hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    fig.update_yaxes(tickformat=".1%", title="share of parameters updated")
    return styled(fig, "Updated share per layer" + left_out, height=300)


def storage_curve(storage: dict) -> go.Figure:
    """Stored update size against the keep ratio rho, with the full (rho = 1) size and the chosen rho."""
    curve = sorted(storage.get("curve", []), key=lambda c: c["rho"])
    fig = go.Figure()
    if curve:
        fig.add_trace(go.Scatter(x=[c["rho"] for c in curve], y=[c["stored_mb"] for c in curve],
                                 mode="lines+markers", name="stored updates", line=dict(color="#1f77b4")))
    if storage.get("full_mb") is not None:
        fig.add_hline(y=storage["full_mb"], line=dict(color="#999", dash="dot"),
                      annotation_text=f"full amnesiac: {storage['full_mb']:.1f} MB")
    if storage.get("rho") is not None and storage.get("stored_mb") is not None:
        fig.add_trace(go.Scatter(x=[storage["rho"]], y=[storage["stored_mb"]], mode="markers", name="this run",
                                 marker=dict(size=14, color="#d62728", symbol="star")))
    fig.update_xaxes(title="per-layer keep ratio ρ", type="log")
    fig.update_yaxes(title="stored MB", rangemode="tozero")
    return styled(fig, "Partial amnesiac: storage against ρ", height=320)


# ---- every method ---------------------------------------------------------------------------------------
def layer_change_bars(changes: dict[str, dict[str, float]], top_k: int | None = TOP_BARS) -> go.Figure:
    """||θ − θ₀|| / ||θ₀|| per parameter tensor (log scale) for every run; zero changes sit on the axis; the
    `top_k` tensors that changed most in any run when there are more."""
    largest: dict[str, float] = {}
    for per_layer in changes.values():
        for name, value in per_layer.items():
            largest[name] = max(largest.get(name, 0.0), float(value))
    shown, left_out = top_layers(largest, top_k)
    fig = go.Figure()
    for label, per_layer in changes.items():
        names = [n for n in shown if n in per_layer]
        values = [per_layer[n] for n in names]
        fig.add_trace(go.Bar(x=names, y=[max(v, 1e-9) for v in values], name=label, marker_color=method_color(label),
                             customdata=values, hovertemplate=f"{label}, %{{x}}: %{{customdata:.3g}}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log", title="relative change (log)")
    return styled(fig, "Relative weight change per parameter tensor" + (left_out and f"{left_out} by change"),
                  height=380)
