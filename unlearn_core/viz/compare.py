"""The Compare page's table and figures: every run side by side with the original and the retrain oracle.

An *entry* is a plain dict `{"label": str, "method": str, "metrics": dict}`; the reference entries are
labelled "original" and "retrain". Metrics follow design.md section 4 (accuracies as fractions).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.metrics import metric_info
from unlearn_core.viz.style import log_axis, method_color, styled

TABLE_KEYS = ("forget_acc", "retain_acc", "test_acc", "test_acc_forget_classes", "test_acc_retain_classes",
              "mia_efficacy", "mia_loss_auc", "avg_gap", "changed_fraction", "seconds")
UTILITY_KEY = "test_acc_retain_classes"
REFERENCE_LABELS = ("original", "retrain")


# metrics whose target is retrain's value when classes are forgotten, though "higher is better" otherwise:
# the whole test set holds the forgotten class, which retrain gets wrong
RETRAIN_TARGET_IN_CLASS_SCENARIOS = ("test_acc",)


def targets_retrain(key: str, class_scenario: bool = False) -> bool:
    """Whether the best value of `key` is retrain's (rather than the highest or the lowest)."""
    info = metric_info(key)
    return (info.higher_is_better is None and info.compare_to_retrain) or \
        (class_scenario and key in RETRAIN_TARGET_IN_CLASS_SCENARIOS)


def direction_arrow(key: str, class_scenario: bool = False) -> str:
    """"closer to retrain" where retrain's value is the target, ↑ higher is better, ↓ lower is better; none
    for descriptive columns."""
    info = metric_info(key)
    if targets_retrain(key, class_scenario):
        return "(closer to retrain)"
    if info.higher_is_better is None:
        return ""
    return "↑" if info.higher_is_better else "↓"


def column_label(key: str, class_scenario: bool = False) -> str:
    return f"{metric_info(key).title} {direction_arrow(key, class_scenario)}".strip()


def is_class_scenario(entries: list[dict]) -> bool:
    """Class forgetting: retrain's test accuracy on the forgotten classes differs from its whole-test accuracy
    (the two are equal by construction when no class is wholly forgotten)."""
    retrain = next((e.get("metrics") or {} for e in entries if e.get("label") == "retrain"), {})
    forget_classes, whole = _number(retrain.get("test_acc_forget_classes")), _number(retrain.get("test_acc"))
    return forget_classes is not None and whole is not None and forget_classes != whole


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metrics_table(entries: list[dict], keys: tuple[str, ...] = TABLE_KEYS) -> pd.DataFrame:
    """Rows = entries, columns = metric keys; missing or non-finite values are None (never NaN on screen)."""
    rows = [[_number((e.get("metrics") or {}).get(k)) for k in keys] for e in entries]
    return pd.DataFrame(rows, index=[e["label"] for e in entries], columns=list(keys), dtype=object)


def closeness_scores(table: pd.DataFrame, reference: str = "retrain") -> pd.DataFrame:
    """Per cell, how good the value is in [0, 1] (1 best) for the colouring; None where not scored.

    Metrics compared to retrain score by their distance to the retrain value (relative to the largest
    distance in the column, and to 0.5 for bounded fractions so small gaps stay green); the others score
    by their rank along the metric's direction (lower run time is better, for example).
    """
    scores = pd.DataFrame([[None] * len(table.columns)] * len(table.index), index=table.index,
                          columns=table.columns, dtype=object)
    for key in table.columns:
        info = metric_info(key)
        column = table[key]
        values = {label: v for label, v in column.items() if v is not None}
        if not values:
            continue
        if info.compare_to_retrain and reference in table.index and column[reference] is not None:
            target = column[reference]
            gaps = {label: abs(v - target) for label, v in values.items()}
            scale = max(max(gaps.values()), 0.5 if info.upper == 1.0 else 1e-12)
            for label, gap in gaps.items():
                scores.loc[label, key] = 1.0 - gap / scale
        elif info.higher_is_better is not None:
            lo, hi = min(values.values()), max(values.values())
            for label, v in values.items():
                frac = 0.5 if hi == lo else (v - lo) / (hi - lo)
                scores.loc[label, key] = frac if info.higher_is_better else 1.0 - frac
    return scores


def score_color(score: float | None) -> str:
    """Light red (far from retrain / worst) to light green (close / best)."""
    if score is None or not math.isfinite(score):
        return ""
    s = max(0.0, min(1.0, float(score)))
    red, yellow, green = np.array([248, 196, 196]), np.array([253, 236, 180]), np.array([196, 234, 204])
    rgb = red + (yellow - red) * (s / 0.5) if s < 0.5 else yellow + (green - yellow) * ((s - 0.5) / 0.5)
    r, g, b = (round(float(c)) for c in rgb)
    return f"background-color: rgb({r},{g},{b})"


def format_value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key == "seconds":
        return f"{value:.2f} s"
    if key == "changed_params":
        return f"{int(value):,}"
    if key in ("mia_loss_auc",):
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def styled_table(entries: list[dict], keys: tuple[str, ...] = TABLE_KEYS) -> pd.io.formats.style.Styler:
    """The N-way table with readable values, colour by closeness to retrain, directions in the headers."""
    table = metrics_table(entries, keys)
    class_scenario = is_class_scenario(entries)
    scores = closeness_scores(table)
    text = pd.DataFrame({k: [format_value(k, v) for v in table[k]] for k in keys}, index=table.index)
    colours = pd.DataFrame({k: [score_color(s) for s in scores[k]] for k in keys}, index=table.index)
    text.columns = [column_label(k, class_scenario) for k in keys]
    colours.columns = text.columns
    return text.style.apply(lambda _: colours, axis=None)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated when minimising x and maximising y, ordered by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (x2 <= x and y2 >= y) and (x2 < x or y2 > y) for j, (x2, y2) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def percent_ticks(values: list[float]) -> str:
    """A percent tick format with enough decimals that ticks over this span never repeat (97 %, 97 %, 98 %)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    span = (max(finite) - min(finite)) if len(finite) > 1 else 1.0
    return ".0%" if span >= 0.08 else ".1%" if span >= 0.008 else ".2%"


def forget_utility_axes(fig: go.Figure, xs: list[float], ys: list[float], x_title: str, y_title: str) -> None:
    """The forgetting-vs-utility axes: a forget gap from 0 and a utility span, both padded so that a marker at an
    extreme (a gap of exactly 0, the best or worst utility) is drawn whole, with percent ticks that never repeat."""
    widest = max([*xs, 0.05])
    fig.update_xaxes(title=x_title, tickformat=percent_ticks([0.0, widest]), range=[-0.05 * widest, 1.08 * widest],
                     zeroline=False)
    pad = max(0.005, 0.08 * ((max(ys) - min(ys)) if ys else 1.0))
    fig.update_yaxes(title=y_title, tickformat=percent_ticks(ys),
                     range=[min(ys) - pad, min(1.0, max(ys)) + pad] if ys else None)


def forget_utility_points(entries: list[dict], retrain: dict) -> list[dict]:
    """(forget gap to retrain, utility) of every entry that has both, with its label and run id."""
    out = []
    for e in entries:
        m = e.get("metrics") or {}
        forget, utility = _number(m.get("forget_acc")), _number(m.get(UTILITY_KEY))
        target = _number(retrain.get("forget_acc"))
        if forget is None or utility is None or target is None:
            continue
        out.append({"label": e["label"], "method": e.get("method", e["label"]), "x": abs(forget - target),
                    "y": utility, "forget_acc": forget, "run_id": e.get("run_id") or ""})
    return out


def forget_utility_scatter(entries: list[dict], retrain: dict) -> go.Figure:
    """Forgetting (distance of forget accuracy to retrain's, left is better) against utility (up is better).

    The Pareto front is drawn among the unlearning runs (original and retrain are the references, drawn as a
    grey square and a green star). Each point is named in the legend in its own colour rather than beside it,
    because runs that forget alike sit on top of each other; `customdata` holds the run id, so a click on a
    point can open that run.
    """
    points = forget_utility_points(entries, retrain)
    runs = [i for i, p in enumerate(points) if p["label"] not in REFERENCE_LABELS]
    front = [runs[k] for k in pareto_front([(points[i]["x"], points[i]["y"]) for i in runs])]
    fig = go.Figure()
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=[points[i]["x"] for i in front], y=[points[i]["y"] for i in front],
                                 mode="lines", line=dict(color="#999", dash="dash"), name="Pareto front",
                                 hoverinfo="skip"))
    symbols = {"original": "square", "retrain": "star"}
    for i, p in enumerate(points):
        on_front = i in front
        fig.add_trace(go.Scatter(
            x=[p["x"]], y=[p["y"]], mode="markers", customdata=[p["run_id"]],
            marker=dict(size=15 if p["label"] in symbols else 12 if on_front else 10, color=method_color(p["label"]),
                        symbol=symbols.get(p["label"], "circle"),
                        line=dict(width=2 if on_front else 0.5, color="#222")),
            name=p["label"] + (" ◆ front" if on_front else ""),
            hovertemplate=(f"<b>{p['label']}</b><br>forget acc. {p['forget_acc']:.1%}<br>"
                           f"gap to retrain {p['x']:.1%}<br>utility {p['y']:.1%}<extra></extra>"),
        ))
    forget_utility_axes(fig, [p["x"] for p in points], [p["y"] for p in points],
                        "|forget acc. − retrain's|  (← forgets like retrain)",
                        f"{metric_info(UTILITY_KEY).title}  (↑ keeps utility)")
    return styled(fig, "Forgetting vs utility", height=440, how_to_read=(
        "Each point is a run. Left = its forget accuracy is as close to retrain's as it gets; up = it keeps "
        "accuracy on the kept classes. Outlined points joined by the dashed line are the Pareto front among the "
        "methods: no other run is both further left and higher. The green star is retrain itself, the grey "
        "square the original model. Click a point to open that run."))


def gap_bars(entries: list[dict]) -> go.Figure:
    """Per-metric absolute gap to the retrain oracle for every entry (shorter is better)."""
    fig = go.Figure()
    shown = 0
    keys: list[str] = []
    for e in entries:
        gaps = (e.get("metrics") or {}).get("gap_to_retrain") or {}
        if not gaps or e["label"] == "retrain":
            continue
        keys = keys or list(gaps)
        shown += 1
        fig.add_trace(go.Bar(y=[metric_info(k).title for k in keys], x=[gaps.get(k) for k in keys], name=e["label"],
                             orientation="h", marker_color=method_color(e["label"]),
                             hovertemplate=f"{e['label']}, %{{y}}: %{{x:.1%}}<extra></extra>"))
    fig.update_xaxes(title="|value − retrain's|  (← better)", tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="group", bargap=0.25, legend=dict(traceorder="normal"))
    return styled(fig, "Gap to the retrain oracle per metric", height=max(320, 110 + 14 * shown * max(1, len(keys))),
                  how_to_read="One group of bars per metric, one bar per run: how far the run's value is from "
                              "retrain's. Shorter is better; no bar means the run matches retrain exactly.")


def per_class_heatmap(entries: list[dict], class_names: list[str], forgotten: tuple[int, ...] = ()) -> go.Figure:
    """Test accuracy per class (columns) for every model (rows); forgotten classes are marked ✕."""
    labels, rows = [], []
    for e in entries:
        acc = (e.get("metrics") or {}).get("per_class_acc")
        if acc:
            labels.append(e["label"])
            rows.append([_number(a) for a in acc])
    z = np.array([[np.nan if a is None else a for a in r] for r in rows], dtype=float)
    text = [[("—" if a is None else f"{a:.0%}") for a in r] for r in rows]
    names = [f"{c} ✕" if k in forgotten else str(c) for k, c in enumerate(class_names)]
    fig = go.Figure(go.Heatmap(z=z, x=names, y=labels, text=text, texttemplate="%{text}",
                               colorscale="RdYlGn", zmin=0, zmax=1,
                               colorbar=dict(title=dict(text="acc.", side="right"), tickformat=".0%"),
                               hovertemplate="%{y}, class %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="class (✕ forgotten)" if forgotten else "class", type="category")
    return styled(fig, "Per-class test accuracy", height=max(260, 90 + 30 * len(labels)), how_to_read=(
        "Rows are models, columns classes, cells test accuracy (green high, red low). A good run copies the "
        "retrain row: low on the forgotten classes (✕), as high as the original on the others."))


def confusion_grid(entries: list[dict], class_names: list[str], columns: int = 4) -> go.Figure:
    """Test-set confusion matrices side by side (rows: true class, columns: predicted)."""
    items = [(e["label"], (e.get("metrics") or {}).get("confusion_matrix")) for e in entries]
    items = [(label, cm) for label, cm in items if cm]
    columns = max(1, min(columns, len(items)))
    rows = max(1, math.ceil(len(items) / columns))
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[label for label, _ in items],
                        horizontal_spacing=0.05, vertical_spacing=0.3 / rows)
    names = [str(c) for c in class_names]
    for i, (label, cm) in enumerate(items):
        counts = np.array(cm, dtype=float)
        share = counts / np.clip(counts.sum(1, keepdims=True), 1, None)
        fig.add_trace(go.Heatmap(z=share, x=names, y=names, coloraxis="coloraxis", customdata=counts,
                                 hovertemplate=(f"{label}<br>true %{{y}} → predicted %{{x}}: %{{customdata:.0f}}"
                                                "<extra></extra>")), i // columns + 1, i % columns + 1)
    fig.update_yaxes(autorange="reversed", type="category", tickfont_size=10)
    fig.update_xaxes(type="category", tickfont_size=10)
    fig.update_layout(coloraxis=dict(colorscale="Blues", cmin=0, cmax=1,
                                     colorbar=dict(title=dict(text="share of row", side="right"))))
    return styled(fig, "Confusion matrices (rows: true class, columns: predicted)", height=100 + 270 * rows,
                  how_to_read="One matrix per model: row = the true class of a test image, column = what the model "
                              "predicted, darker = a larger share of that row. A model that forgot a class has an "
                              "empty diagonal cell there, its images spread over the other columns, as in retrain.")


def cost_bars(entries: list[dict]) -> go.Figure:
    """Run time (log scale) and share of changed parameters per run, one row per run, one panel above the other
    (side by side they leave each panel too narrow for its title in a half-width column)."""
    runs = [e for e in entries if e["label"] not in ("original",)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=False, vertical_spacing=0.5 / max(4, len(runs)) + 0.06,
                        subplot_titles=["run time in seconds (log scale)", "share of parameters changed"])
    for e in runs:
        m = e.get("metrics") or {}
        colour = method_color(e["label"])
        seconds, changed = _number(m.get("seconds")), _number(m.get("changed_fraction"))
        if seconds is not None:
            fig.add_trace(go.Bar(y=[e["label"]], x=[max(seconds, 1e-3)], marker_color=colour, showlegend=False,
                                 orientation="h", hovertemplate=f"{e['label']}: {seconds:.2f} s<extra></extra>"),
                          1, 1)
        if changed is not None:
            fig.add_trace(go.Bar(y=[e["label"]], x=[changed], marker_color=colour, showlegend=False,
                                 orientation="h", hovertemplate=f"{e['label']}: {changed:.2%}<extra></extra>"), 2, 1)
    log_axis(fig, "x", row=1, col=1)
    fig.update_xaxes(tickformat=".0%", range=[0, 1.0], row=2, col=1)
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, "Cost: run time and parameters touched", height=max(320, 150 + 2 * 22 * len(runs)),
                  how_to_read="Top: wall time of the unlearning itself on a log scale (each grid line is ten times "
                              "the last; retrain's bar is what every method tries to undercut). Bottom: the share "
                              "of the model's parameters whose value changed; one-shot methods touch few.")
