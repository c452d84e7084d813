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

from unlearn_core.viz.style import PALETTE, method_color, short, styled, wrap


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
def _decades(values: np.ndarray) -> float:
    positive = values[np.isfinite(values) & (values > 0)]
    return float(np.log10(positive.max() / positive.min())) if positive.size > 1 else 0.0


def semu_spectra(spectra: dict[str, dict], columns: int = 2, top_k: int | None = TOP_PANELS) -> go.Figure:
    """Per layer: singular values (log scale, mean over rows with min-max band), cumulative energy (right
    axis) with the threshold tau, and the chosen rank as a vertical line; the `top_k` layers with the most
    trainable parameters when there are more."""
    layers, left_out = top_layers({n: float(spectra[n].get("trainable", 0)) for n in spectra}, top_k)
    rows, columns = _grid(len(layers), columns)
    titles = []
    for name in layers:
        item = spectra[name]
        share = int(item.get("trainable", 0)) / max(1, int(item.get("numel", 0) or 1))
        titles.append(f"{short(name, 22)}: rank {item.get('rank', '?')}, {share:.1%} trainable")
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles,
                        specs=[[{"secondary_y": True}] * columns for _ in range(rows)],
                        horizontal_spacing=0.14, vertical_spacing=0.5 / max(rows, 1) ** 0.5 / 2.2)
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
                                 name="singular value σᵢ (left, log)", showlegend=first,
                                 hovertemplate="σ_%{x}: %{y:.3g}<extra></extra>"), row, col, secondary_y=False)
        if "energy" in item:
            energy = as_2d(item["energy"]).mean(0)
            fig.add_trace(go.Scatter(x=idx, y=energy, mode="lines", line=dict(color="#ff7f0e"),
                                     name="cumulative energy (right)", showlegend=first,
                                     hovertemplate="first %{x}: %{y:.1%}<extra></extra>"), row, col, secondary_y=True)
        if item.get("tau") is not None:
            fig.add_trace(go.Scatter(x=[idx[0], idx[-1]], y=[item["tau"]] * 2, mode="lines",
                                     line=dict(color="#ff7f0e", dash="dot"), name="threshold τ", showlegend=first,
                                     hoverinfo="skip"), row, col, secondary_y=True)
        if item.get("rank") is not None:
            fig.add_trace(go.Scatter(x=[float(item["rank"])] * 2, y=[0, 1], mode="lines", name="chosen rank r",
                                     line=dict(color="#d62728", dash="dash"), showlegend=first,
                                     hovertemplate=f"chosen rank {item['rank']}<extra></extra>"),
                          row, col, secondary_y=True)
        values = np.r_[sv.max(0), sv.min(0)]
        if _decades(values) >= 1:
            fig.update_yaxes(type="log", dtick=1, exponentformat="power", row=row, col=col, secondary_y=False)
        else:  # under one decade a log axis only has 2..9 to label: a plain axis reads better
            fig.update_yaxes(type="linear", nticks=6, tickformat=".2~g", row=row, col=col, secondary_y=False)
        # no 0 % tick: it would sit on the last x tick label in the panel's lower right corner
        fig.update_yaxes(range=[0, 1.02], tickvals=[0.5, 1], tickformat=".0%", showgrid=False, row=row,
                         col=col, secondary_y=True)
        fig.update_xaxes(nticks=6, row=row, col=col)
    fig.update_xaxes(title_text="index i", row=rows)
    return styled(fig, "SEMU: singular values per layer" + (left_out and f"{left_out} by trainable parameters"),
                  height=110 + 260 * rows, legend="top", how_to_read=(
        "One panel per edited layer. Blue: the singular values of the layer's forget gradient, largest first "
        "(left axis). Orange: the share of the gradient's energy in the first i directions (right axis). SEMU "
        "keeps the first r directions, where the orange curve first reaches the dotted threshold τ (red dashed "
        "line), and trains only an r×r matrix there."))


def semu_rank_bars(spectra: dict[str, dict], top_k: int | None = TOP_BARS) -> go.Figure:
    """Chosen rank and trainable share per layer (the `top_k` highest ranks when there are more layers)."""
    layers, left_out = top_layers({n: float(spectra[n].get("rank") or 0) for n in spectra}, top_k)
    names = [short(n, 22) for n in layers]
    share = [spectra[n].get("trainable", 0) / max(1, spectra[n].get("numel", 1)) for n in layers]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=["chosen rank r", "trainable share of the layer"])
    fig.add_trace(go.Bar(y=names, x=[spectra[n].get("rank") for n in layers], marker_color="#1f77b4",
                         orientation="h", showlegend=False, hovertemplate="%{y}: rank %{x}<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(y=names, x=share, marker_color="#ff7f0e", showlegend=False, orientation="h",
                         hovertemplate="%{y}: %{x:.2%}<extra></extra>"), 1, 2)
    fig.update_xaxes(tickformat=".1%", row=1, col=2)
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, "SEMU: rank and trainable parameters per layer" + (left_out and f"{left_out} by rank"),
                  height=max(240, 100 + 24 * len(layers)),
                  how_to_read="Per edited layer: the rank r SEMU chose and the share of the layer's parameters "
                              "that rank makes trainable (r×r of the layer's size).")


# ---- SLUG -----------------------------------------------------------------------------------------------
def _padded(values: np.ndarray, log: bool, pad: float = 0.12) -> list[float]:
    v = np.log10(values) if log else values
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or (abs(hi) or 1.0) * 0.5
    return [lo - pad * span, hi + pad * span]


def slug_scatter(layer_scores: list[dict], front: list[str], chosen: str | None) -> go.Figure:
    """Importance against alignment per layer (log-log when all positive); the Pareto front drawn as the
    boundary of the layers it dominates, front layers outlined and named, the chosen layer starred."""
    names = [s["layer"] for s in layer_scores]
    imp = np.array([s["importance"] for s in layer_scores], dtype=float)
    ali = np.array([s["alignment"] for s in layer_scores], dtype=float)
    log_axes = bool((imp > 0).all() and (ali > 0).all())
    x_range, y_range = _padded(ali, log_axes, 0.18), _padded(imp, log_axes, 0.2)
    y_range[1] += 0.12 * (y_range[1] - y_range[0])  # headroom for the name above the top point
    fig = go.Figure()
    on_front = [n in front or bool(s.get("on_front")) for n, s in zip(names, layer_scores, strict=True)]
    order = sorted((i for i in range(len(names)) if on_front[i]), key=lambda i: ali[i])
    if order:
        # the front as a staircase: every layer below and to the right of it is dominated
        edge_x = 10 ** x_range[1] if log_axes else x_range[1]
        edge_y = 10 ** y_range[0] if log_axes else y_range[0]
        xs, ys = [float(ali[order[0]])], [edge_y]
        for i in order:
            xs += [float(ali[i]), float(ali[i])]
            ys += [ys[-1], float(imp[i])]
        xs.append(edge_x)
        ys.append(ys[-1])
        fig.add_trace(go.Scatter(x=xs[1:], y=ys[1:], mode="lines", line=dict(color="#999", dash="dash"),
                                 name="Pareto front", hoverinfo="skip"))
    labelled = [f or n == chosen for n, f in zip(names, on_front, strict=True)]
    fig.add_trace(go.Scatter(
        x=ali, y=imp, mode="markers+text", text=[short(n, 18) if lab else "" for n, lab in zip(names, labelled,
                                                                                               strict=True)],
        textposition="top center", cliponaxis=False, name="layers", showlegend=False,
        marker=dict(size=[18 if n == chosen else 13 if f else 9 for n, f in zip(names, on_front, strict=True)],
                    color=["#d62728" if f else "#1f77b4" for f in on_front],
                    symbol=["star" if n == chosen else "circle" for n in names], line=dict(width=1, color="#222")),
        customdata=np.array([[n, s.get("numel", 0)] for n, s in zip(names, layer_scores, strict=True)],
                            dtype=object),
        hovertemplate="<b>%{customdata[0]}</b><br>alignment %{x:.3g}<br>importance %{y:.3g}<br>"
                      "%{customdata[1]:,} params<extra></extra>",
    ))
    axis = dict(type="log", dtick=1, exponentformat="power") if log_axes else dict(type="linear")
    fig.update_xaxes(title="alignment with the retain set (← better)", range=x_range, **axis)
    fig.update_yaxes(title="importance for the forget set (↑ better)", range=y_range, **axis)
    return styled(fig, f"SLUG: layers (★ edited: {short(chosen, 20) if chosen else 'none'})",
                  height=420, how_to_read=(
                      "One point per weight tensor. Up: its gradient matters to the forget set; left: editing it "
                      "disturbs the retain set little. Red, named points are on the Pareto front (the dashed "
                      "staircase; every layer below and right of it is beaten on both counts); SLUG edits the "
                      "starred one, hover a blue point for its name."))


def slug_step_search(step_search: list[dict], title: str = "SLUG: step-size search",
                     chosen_lambda: float | None = None) -> go.Figure:
    """Forget / retain / test accuracy at each tried step size; hollow markers missed the target; the chosen
    step size as a red line."""
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
    if chosen_lambda is not None:
        fig.add_trace(go.Scatter(x=[chosen_lambda] * 2, y=[0, 1.02], mode="lines", name=f"chosen λ={chosen_lambda:.3g}",
                                 line=dict(color="#d62728", dash="dash"), hoverinfo="skip"))
    positive = all(v is not None and v > 0 for v in lam)
    spread = positive and len(lam) > 1 and max(lam) / min(lam) >= 10
    fig.update_xaxes(title="step size λ", type="log" if spread else "linear", nticks=6, tickformat=".3~g",
                     **({"dtick": 1, "exponentformat": "power"} if spread else {}))
    fig.update_yaxes(title="accuracy", tickformat=".0%", range=[0, 1.02])
    return styled(fig, title, height=340, legend="top", how_to_read=(
        "Each tried step size λ (x) and the accuracies it gives. Filled markers meet the forget target, hollow "
        "ones miss it; SLUG keeps the smallest step that meets it (red dashed line), so retain and test "
        "accuracy stay as high as possible."))


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
                    forgotten: tuple[int, ...] = (), num_classes: int | None = None,
                    top_k: int | None = TOP_PANELS) -> go.Figure:
    """log(F_forget / F_retain) per layer on a diverging scale centred on 0 (equally sensitive); red:
    parameters more sensitive to the forgotten class. In a layer whose rows are the classes (the output layer),
    the forgotten class's row is boxed. The `top_k` layers with the largest ratio when there are more."""
    layers, left_out = top_layers({n: float(np.nanmax(to_numpy(fisher[n]["log_ratio"]), initial=-np.inf))
                                   for n in fisher if "log_ratio" in fisher[n]}, top_k)
    rows, columns = _grid(len(layers), columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[short(n, 40) for n in layers],
                        horizontal_spacing=0.06, vertical_spacing=0.4 / max(rows, 1))
    maps = [as_2d(fisher[n]["log_ratio"])[:max_side, :max_side * 4] for n in layers]
    # the 90th percentile keeps a few extreme ratios from washing every other cell out to white
    bound = max([float(np.nanpercentile(np.abs(m[np.isfinite(m)]), 90)) for m in maps if np.isfinite(m).any()]
                + [1e-6])
    for i, m in enumerate(maps):
        row, col = i // columns + 1, i % columns + 1
        fig.add_trace(go.Heatmap(z=m, coloraxis="coloraxis",
                                 hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"), row, col)
        if num_classes and m.shape[0] == num_classes and m.shape[0] > 1:
            for k in forgotten:
                fig.add_shape(type="rect", x0=-0.5, x1=m.shape[1] - 0.5, y0=k - 0.5, y1=k + 0.5, row=row, col=col,
                              line=dict(color="#111", width=2))
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(coloraxis=dict(colorscale="RdBu_r", cmid=0, cmin=-bound, cmax=bound,
                                     colorbar=dict(title=dict(text="log F_f/F_r", side="right"))))
    marked = f"; the boxed row of the output layer is the forgotten class {', '.join(map(str, forgotten))}" \
        if forgotten and num_classes else ""
    return styled(fig, "Mnemonic code: Fisher sensitivity per layer (rows: output units)"
                  + (left_out and f"{left_out} by largest ratio"), height=80 + 230 * rows,
                  how_to_read=(
                      "Each cell is one parameter: red = it matters more to the forgotten class's code than to "
                      "the others' (the method moves these), blue = less, white = equally. The scale is centred "
                      f"on 0 and ends at the 90th percentile, so the rarer extremes saturate{marked}."))


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
        fig.add_trace(go.Bar(y=[short(n, 24) for n in layers], x=[moved_share[n].get(t) for n in layers],
                             name=f"|δ| > {t}", orientation="h", marker_color=PALETTE[j % len(PALETTE)],
                             hovertemplate="%{y}: %{x:.2%}<extra>" + f"|δ| > {t}</extra>"))
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickformat=".0%", title="share of the layer's parameters", rangemode="tozero")
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, "Mnemonic code: parameters moved per layer" + (left_out and f"{left_out} by share moved"),
                  height=max(280, 90 + 12 * len(layers) *
                                                                             max(1, len(thresholds))),
                  how_to_read="Per layer, the share of its parameters the edit moved by more than each threshold "
                              "(one bar per threshold). Long bars at the largest threshold mean a broad edit.")


# ---- partial methods ------------------------------------------------------------------------------------
def mask_heatmaps(masks: dict[str, dict], columns: int = 2, max_side: int = 128,
                  top_k: int | None = TOP_PANELS) -> go.Figure:
    """How often each parameter was updated (count), per layer, with the updated fraction in the title; the
    `top_k` most-updated layers when there are more."""
    layers, left_out = top_layers({n: float(masks[n].get("updated_fraction") or 0) for n in masks
                                   if "count" in masks[n]}, top_k)
    rows, columns = _grid(len(layers), columns)
    titles = [f"{short(n, 30)}: {masks[n].get('updated_fraction', 0):.1%} updated" for n in layers]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=0.4 / max(rows, 1))
    for i, n in enumerate(layers):
        fig.add_trace(go.Heatmap(z=as_2d(masks[n]["count"])[:max_side, :max_side * 4], coloraxis="coloraxis",
                                 hovertemplate="row %{y}, col %{x}: %{z:.0f} updates<extra></extra>"),
                      i // columns + 1, i % columns + 1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=dict(title=dict(text="updates", side="right"))))
    return styled(fig, "Update masks per layer (how many steps touched each parameter)"
                  + (left_out and f"{left_out} by updated share"), height=80 + 230 * rows,
                  how_to_read="Each cell is one parameter of the layer (rows: output units); its colour counts the "
                              "steps that updated it. Dark = never touched: partial methods change only the top "
                              "share ρ of each layer per step.")


def updated_fraction_bars(masks: dict[str, dict], label: str = "", top_k: int | None = TOP_BARS) -> go.Figure:
    layers, left_out = top_layers({n: float(masks[n].get("updated_fraction") or 0) for n in masks}, top_k)
    fig = go.Figure(go.Bar(y=[short(n, 24) for n in layers], x=[masks[n].get("updated_fraction") for n in layers],
                           orientation="h", marker_color=method_color(label) if label else "#1f77b4",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_xaxes(tickformat=".1%", title="share of parameters updated")
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, "Updated share per layer" + left_out, height=max(240, 90 + 22 * len(layers)),
                  how_to_read="Per layer, the share of its parameters updated at least once.")


def storage_curve(storage: dict) -> go.Figure:
    """Stored update size against the keep ratio rho, with the full (rho = 1) size and the chosen rho."""
    curve = sorted(storage.get("curve", []), key=lambda c: c["rho"])
    fig = go.Figure()
    if curve:
        fig.add_trace(go.Scatter(x=[c["rho"] for c in curve], y=[c["stored_mb"] for c in curve],
                                 mode="lines+markers", name="stored updates", line=dict(color="#1f77b4")))
    if storage.get("full_mb") is not None:
        xs = [c["rho"] for c in curve] or [storage.get("rho") or 1.0]
        fig.add_trace(go.Scatter(x=[min(xs), max([*xs, 1.0])], y=[storage["full_mb"]] * 2, mode="lines",
                                 line=dict(color="#999", dash="dot"), hoverinfo="skip",
                                 name=f"full amnesiac ({storage['full_mb']:.1f} MB)"))
    if storage.get("rho") is not None and storage.get("stored_mb") is not None:
        fig.add_trace(go.Scatter(x=[storage["rho"]], y=[storage["stored_mb"]], mode="markers",
                                 name=f"this run (ρ={storage['rho']:.3g})",
                                 marker=dict(size=14, color="#d62728", symbol="star")))
    fig.update_xaxes(title="per-layer keep ratio ρ", type="log", dtick=1, exponentformat="power")
    fig.update_yaxes(title="stored MB", rangemode="tozero")
    return styled(fig, "Partial amnesiac: storage against ρ", height=320, legend="top",
                  how_to_read="How many megabytes of recorded training updates must be kept for each keep ratio "
                              "ρ (log scale); the star is this run, the dotted line what full amnesiac stores.")


# ---- every method ---------------------------------------------------------------------------------------
def layer_change_bars(changes: dict[str, dict[str, float]], top_k: int | None = TOP_BARS) -> go.Figure:
    """||θ − θ₀|| / ||θ₀|| per parameter tensor (rows) for every run (columns), on a log colour scale; a
    tensor a run left exactly as it was reads "unchanged" on a blank cell instead of a bar of nothing; the
    `top_k` tensors that changed most in any run when there are more."""
    runs = list(changes)
    largest: dict[str, float] = {}
    for per_layer in changes.values():
        for name, value in per_layer.items():
            largest[name] = max(largest.get(name, 0.0), float(value))
    tensors, left_out = top_layers(largest, top_k)
    values = np.array([[changes[r].get(t, np.nan) for r in runs] for t in tensors], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(values > 0, np.log10(values), np.nan)
    text = [["unchanged" if v == 0 else "" if not np.isfinite(v) else f"{v:.2g}" for v in row] for row in values]
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-6.0, 0.0)
    ticks = list(range(int(np.floor(lo)), int(np.ceil(hi)) + 1)) or [0]
    fig = go.Figure(go.Heatmap(
        z=z, x=[wrap(r) for r in runs], y=[short(t, 28) for t in tensors], text=text, texttemplate="%{text}",
        textfont_size=10,
        colorscale="Viridis", zmin=lo, zmax=max(hi, lo + 1e-9), xgap=1, ygap=1,
        colorbar=dict(title=dict(text="relative change", side="right"), tickvals=ticks,
                      ticktext=[f"10<sup>{t}</sup>" for t in ticks]),
        customdata=values, hovertemplate="%{x}, %{y}: %{customdata:.3g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=0)
    return styled(fig, "Relative weight change per parameter tensor" + (left_out and f"{left_out} by change"),
                  height=max(260, 110 + 24 * len(tensors)),
                  how_to_read="Rows are the model's weight tensors, columns the runs; each cell is ‖θ − θ₀‖ / ‖θ₀‖, "
                              "how far the run moved that tensor relative to its size (brighter = further; log "
                              "scale). 'unchanged' cells were left exactly as in the original: one-shot methods "
                              "edit few tensors, fine-tuning methods move them all.")
