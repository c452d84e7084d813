"""Model card and data figures: training curves, confusion matrix, per-class accuracy, image tiles, embedding."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.viz.style import PALETTE, styled, wrap


def history_figure(history: list[dict], title: str = "Training curve") -> go.Figure:
    """Loss (left axis) and, where recorded, test accuracy (right axis) per epoch."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
    if any("loss" in h for h in history):
        fig.add_trace(go.Scatter(x=epochs, y=[h.get("loss") for h in history], name="training loss",
                                 mode="lines+markers", line=dict(color="#d62728")), secondary_y=False)
    for key, colour in (("test_acc", "#1f77b4"), ("forget_acc", "#ff7f0e"), ("retain_acc", "#2ca02c")):
        if any(key in h for h in history):
            # connectgaps: some methods (SEMU) measure accuracies at a few epochs only
            fig.add_trace(go.Scatter(x=epochs, y=[h.get(key) for h in history], name=key.replace("_", " "),
                                     mode="lines+markers", line=dict(color=colour), connectgaps=True),
                          secondary_y=True)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="loss", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title="accuracy", secondary_y=True, tickformat=".0%", range=[0, 1.02], tickvals=[0, 0.5, 1],
                     showgrid=False)
    return styled(fig, title, height=320, legend="top",
                  how_to_read="Per epoch: the training loss (red, left axis, lower is better) and the accuracies "
                              "recorded along the way (right axis).")


def confusion_figure(cm: list[list[int]], class_names: list[str],
                     title: str = "Confusion matrix (test set)") -> go.Figure:
    counts = np.array(cm, dtype=float)
    names = [str(c) for c in class_names]
    fig = go.Figure(go.Heatmap(z=counts, x=names, y=names, colorscale="Blues", text=counts.astype(int),
                               texttemplate="%{text}", colorbar=dict(title=dict(text="images", side="right")),
                               hovertemplate="true %{y} → predicted %{x}: %{z:.0f}<extra></extra>"))
    fig.update_yaxes(title="true class", autorange="reversed", type="category")
    fig.update_xaxes(title="predicted class", type="category")
    return styled(fig, title, height=380, how_to_read="Row = the true class of a test image, column = the predicted "
                  "one; the diagonal counts correct answers, anything off it is a confusion between two classes.")


def per_class_bars(per_class_acc: list[float], class_names: list[str], title: str = "Per-class test accuracy",
                   highlight: tuple[int, ...] = (), y_title: str = "accuracy") -> go.Figure:
    colours = ["#d62728" if i in highlight else "#1f77b4" for i in range(len(per_class_acc))]
    fig = go.Figure(go.Bar(x=[str(c) for c in class_names], y=per_class_acc, marker_color=colours,
                           hovertemplate="class %{x}: %{y:.1%}<extra></extra>"))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], title=y_title)
    fig.update_xaxes(type="category", title="class")
    return styled(fig, title, height=300, how_to_read="One bar per class" + (
        "; red bars are the highlighted classes." if highlight else "."))


def image_tiles(images: np.ndarray, titles: list[str], columns: int = 8, title: str | None = None,
                tile_px: int = 90) -> go.Figure:
    """A grid of uint8 images (N, H, W, C); greyscale is drawn as RGB so every backend shows it alike."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.3 / rows)
    for i, img in enumerate(images):
        rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        fig.add_trace(go.Image(z=rgb, hoverinfo="skip"), i // columns + 1, i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=11)
    return styled(fig, title, height=(48 if title else 16) + rows * (tile_px + 24))


def embedding_scatter(coords: np.ndarray, labels: np.ndarray, class_names: list[str], selected: np.ndarray,
                      ids: np.ndarray, title: str = "Penultimate features (2-D)") -> go.Figure:
    """One point per training image, coloured by class; images already in the forget set are outlined.

    `customdata` carries the training index, so a lasso selection maps straight back to images.
    """
    fig = go.Figure()
    for k, name in enumerate(class_names):
        mask = labels == k
        if not mask.any():
            continue
        fig.add_trace(go.Scattergl(
            x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=str(name), customdata=ids[mask],
            marker=dict(size=7, color=PALETTE[k % len(PALETTE)], opacity=0.8,
                        line=dict(width=np.where(selected[mask], 2, 0), color="#000")),
            hovertemplate=f"class {name}<br>image #%{{customdata}}<extra></extra>",
        ))
    fig.update_xaxes(title="component 1", showticklabels=False)
    fig.update_yaxes(title="component 2", showticklabels=False)
    fig.update_layout(dragmode="lasso")
    return styled(fig, title, height=480, how_to_read=(
        "Each point is a training image placed by the model's penultimate features (nearby = the model sees them "
        "alike), coloured by class; outlined points are already in the forget set. Drag a lasso to select a region."))


def attribution_grid(images: np.ndarray, maps: dict[str, np.ndarray], row_titles: list[str],
                     title: str = "Attributions") -> go.Figure:
    """Rows = images; first column the image, then one attribution map per model (red: evidence for the class,
    blue: against it), all on one symmetric colour scale."""
    labels = list(maps)
    rows, columns = len(images), 1 + len(labels)
    titles = [t for r in range(rows) for t in [row_titles[r], *([wrap(x, 14) for x in labels] if r == 0
                                                                else [""] * len(labels))]]
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.12 / max(1, rows))
    for r, img in enumerate(images):
        rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
        fig.add_trace(go.Image(z=rgb, hoverinfo="skip"), r + 1, 1)
        for c, label in enumerate(labels):
            fig.add_trace(go.Heatmap(z=maps[label][r], coloraxis="coloraxis",
                                     hovertemplate=f"{label}: %{{z:.2f}}<extra></extra>"), r + 1, c + 2)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", constrain="domain")
    for trace in fig.data:  # square pixels: a map's y axis is scaled to its x axis (images do so themselves)
        if isinstance(trace, go.Heatmap):
            fig.layout[f"yaxis{trace.yaxis[1:]}"].scaleanchor = trace.xaxis
    fig.update_layout(coloraxis=dict(colorscale="RdBu_r", cmin=-1, cmax=1,
                                     colorbar=dict(title=dict(text="attr.", side="right"))))
    fig.update_annotations(font_size=11)
    return styled(fig, title, height=70 + 130 * rows, how_to_read=(
        "Rows are images, the first column the image itself, then one map per model: red pixels push that model "
        "towards the image's true class, blue pixels away from it, on one shared scale. After unlearning, the "
        "forgotten class's evidence should fade as it does in retrain."))
