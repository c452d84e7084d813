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


# ---- SEMU -----------------------------------------------------------------------------------------------
def semu_spectra(spectra: dict[str, dict], columns: int = 2) -> go.Figure:
    """Per layer: singular values (log scale, mean over rows with min-max band), cumulative energy (right
    axis) with the threshold tau, and the chosen rank as a vertical line."""
    layers = list(spectra)
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
    return styled(fig, "SEMU: singular values per layer (red dashed: chosen rank)", height=60 + 300 * rows)


def semu_rank_bars(spectra: dict[str, dict]) -> go.Figure:
    """Chosen rank and trainable share per layer."""
    layers = list(spectra)
    share = [spectra[n].get("trainable", 0) / max(1, spectra[n].get("numel", 1)) for n in layers]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["chosen rank r", "trainable share of the layer"])
    fig.add_trace(go.Bar(x=layers, y=[spectra[n].get("rank") for n in layers], marker_color="#1f77b4",
                         showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=layers, y=share, marker_color="#ff7f0e", showlegend=False,
                         hovertemplate="%{x}: %{y:.2%}<extra></extra>"), 1, 2)
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    return styled(fig, "SEMU: rank and trainable parameters per layer", height=300)


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
    fig.add_trace(go.Scatter(
        x=ali, y=imp, mode="markers+text", text=names, textposition="top center", name="layers",
        marker=dict(size=[16 if f else 10 for f in on_front], color=["#d62728" if f else "#1f77b4" for f in on_front],
                    symbol=["star" if n == chosen else "circle" for n in names], line=dict(width=1, color="#222")),
        customdata=[s.get("numel", 0) for s in layer_scores],
        hovertemplate="<b>%{text}</b><br>alignment %{x:.3g}<br>importance %{y:.3g}<br>%{customdata:,} params"
                      "<extra></extra>",
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


# ---- mnemonic code --------------------------------------------------------------------------------------
def fisher_heatmaps(fisher: dict[str, dict], columns: int = 2, max_side: int = 128) -> go.Figure:
    """log(F_forget / F_retain) per layer; red: parameters more sensitive to the forgotten class."""
    layers = [n for n in fisher if "log_ratio" in fisher[n]]
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
    return styled(fig, "Mnemonic code: Fisher sensitivity per layer (rows: output units)", height=60 + 280 * rows)


def codes_to_images(codes: Any) -> np.ndarray:
    """(C, c, h, w) codes in [0, 1) -> (C, h, w, c) uint8."""
    arr = np.clip(to_numpy(codes), 0, 1)
    return (arr.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)


def moved_share_bars(moved_share: dict[str, dict]) -> go.Figure:
    """Share of each layer's parameters that moved by more than each threshold."""
    layers = list(moved_share)
    thresholds = sorted({t for v in moved_share.values() for t in v}, key=float)
    fig = go.Figure()
    for j, t in enumerate(thresholds):
        fig.add_trace(go.Bar(x=layers, y=[moved_share[n].get(t) for n in layers], name=f"|δ| > {t}",
                             marker_color=PALETTE[j % len(PALETTE)]))
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".1%", title="share of the layer")
    return styled(fig, "Mnemonic code: parameters moved per layer", height=320)


# ---- partial methods ------------------------------------------------------------------------------------
def mask_heatmaps(masks: dict[str, dict], columns: int = 2, max_side: int = 128) -> go.Figure:
    """How often each parameter was updated (count), per layer, with the updated fraction in the title."""
    layers = [n for n in masks if "count" in masks[n]]
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
    return styled(fig, "Update masks per layer (how many steps touched each parameter)", height=60 + 280 * rows)


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
def layer_change_bars(changes: dict[str, dict[str, float]]) -> go.Figure:
    """||θ − θ₀|| / ||θ₀|| per parameter tensor (log scale) for every run; zero changes sit on the axis."""
    fig = go.Figure()
    for label, per_layer in changes.items():
        names = list(per_layer)
        values = [per_layer[n] for n in names]
        fig.add_trace(go.Bar(x=names, y=[max(v, 1e-9) for v in values], name=label, marker_color=method_color(label),
                             customdata=values, hovertemplate=f"{label}, %{{x}}: %{{customdata:.3g}}<extra></extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(type="log", title="relative change (log)")
    return styled(fig, "Relative weight change per parameter tensor", height=380)
