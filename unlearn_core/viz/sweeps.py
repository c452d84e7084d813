"""Figures and the table of a sweep: one row per cell (`studies.sweep.sweep_rows`), pure Plotly and pandas.

A row is `{"cell", "run_id", "method", "seed", "forget", "params": {name: value}, "status", "metrics": {...}}`
where `metrics` holds the scalar metrics plus `forget_gap`, the distance of the cell's forget accuracy to its
retrain oracle's. Each figure has a caption in HOW_TO_READ, shown beside it wherever it is drawn.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from unlearn_core.metrics import metric_info
from unlearn_core.viz.compare import UTILITY_KEY, forget_utility_axes, pareto_front
from unlearn_core.viz.style import empty_figure, method_color, styled

TABLE_METRICS = ("forget_acc", "forget_gap", "retain_acc", "test_acc", UTILITY_KEY, "mia_efficacy", "avg_gap",
                 "seconds")
HOW_TO_READ = {
    "pareto": "Each point is one cell (one method, one grid setting, one seed). Left = its forget accuracy is as "
              "close to the retrain oracle's as can be; up = it keeps accuracy on the kept classes. Outlined points "
              "form the Pareto front across all cells: no other cell is both closer to retrain and more useful.",
    "parallel": "One line per finished cell of the method, crossing one axis per grid parameter and then the "
                "metrics; colour is the average gap to retrain (dark = close). Lines that bunch at one value of a "
                "parameter and reach the dark end show the setting that matters; drag along an axis to filter.",
}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def param_names(rows: list[dict]) -> list[str]:
    """Every grid parameter of the rows, in first-seen order."""
    names: list[str] = []
    for row in rows:
        names.extend(n for n in row["params"] if n not in names)
    return names


def cell_label(row: dict) -> str:
    grid = ", ".join(f"{k}={v}" for k, v in row["params"].items())
    return f"{row['method']}({grid}) s{row['seed']}" if grid else f"{row['method']} s{row['seed']}"


def results_table(rows: list[dict], metrics: tuple[str, ...] = TABLE_METRICS) -> pd.DataFrame:
    """Method, grid values, seed, forget set, status, the metrics and the run id: one row per cell."""
    params = param_names(rows)
    records = []
    for row in rows:
        record = {"method": row["method"], **{p: row["params"].get(p) for p in params}, "seed": row["seed"],
                  "forget": row["forget"], "status": row["status"]}
        record.update({m: _number(row["metrics"].get(m)) for m in metrics})
        record["run"] = row["run_id"]
        records.append(record)
    columns = ["method", *params, "seed", "forget", "status", *metrics, "run"]
    return pd.DataFrame.from_records(records, columns=columns)


def pareto_cells(rows: list[dict]) -> list[dict]:
    """Finished cells with both axes, each with x (forget gap), y (utility) and whether it is on the front."""
    points = [{"row": r, "x": _number(r["metrics"].get("forget_gap")), "y": _number(r["metrics"].get(UTILITY_KEY))}
              for r in rows if r["status"] == "ok"]
    points = [p for p in points if p["x"] is not None and p["y"] is not None]
    front = set(pareto_front([(p["x"], p["y"]) for p in points]))
    for i, p in enumerate(points):
        p["front"] = i in front
    return points


def pareto_scatter(rows: list[dict]) -> go.Figure:
    """Forgetting (gap of forget accuracy to retrain, left is better) against utility (up); front outlined."""
    points = pareto_cells(rows)
    if not points:
        return empty_figure("No finished cell yet")
    fig = go.Figure()
    for method in dict.fromkeys(p["row"]["method"] for p in points):
        mine = [p for p in points if p["row"]["method"] == method]
        fig.add_trace(go.Scatter(
            x=[p["x"] for p in mine], y=[p["y"] for p in mine], mode="markers", name=method,
            text=[cell_label(p["row"]) for p in mine], customdata=[p["row"]["run_id"] for p in mine],
            marker=dict(size=[13 if p["front"] else 9 for p in mine], color=method_color(method),
                        line=dict(width=[2.5 if p["front"] else 0 for p in mine], color="#111")),
            hovertemplate="%{text}<br>forget gap %{x:.3f}<br>utility %{y:.3f}<br>run %{customdata}<extra></extra>"))
    front = sorted((p for p in points if p["front"]), key=lambda p: p["x"])
    fig.add_trace(go.Scatter(x=[p["x"] for p in front], y=[p["y"] for p in front], mode="lines", name="Pareto front",
                             line=dict(color="#111", dash="dot", width=1.5), hoverinfo="skip"))
    forget_utility_axes(fig, [p["x"] for p in points], [p["y"] for p in points],
                        "|forget acc − retrain's|  (← closer to retrain)",
                        f"{metric_info(UTILITY_KEY).title}  (↑ keeps utility)")
    return styled(fig, "Forgetting vs utility across cells", height=420)


def parallel_coordinates(rows: list[dict], method: str,
                         metrics: tuple[str, ...] = ("forget_gap", UTILITY_KEY, "avg_gap")) -> go.Figure:
    """One axis per grid parameter of `method` (categories become ticks) and per metric; lines = finished cells."""
    mine = [r for r in rows if r["method"] == method and r["status"] == "ok"]
    if not mine:
        return empty_figure(f"No finished cell of {method} yet")
    dimensions = []
    for name in [*param_names(mine), "seed"]:
        values = [r["params"].get(name) if name != "seed" else r["seed"] for r in mine]
        numeric = [_number(v) for v in values]
        if all(v is not None for v in numeric):
            dimensions.append(dict(label=name, values=numeric))
        else:
            levels = list(dict.fromkeys(str(v) for v in values))
            dimensions.append(dict(label=name, values=[levels.index(str(v)) for v in values],
                                   tickvals=list(range(len(levels))), ticktext=levels))
    for key in metrics:
        values = [_number(r["metrics"].get(key)) for r in mine]
        if all(v is not None for v in values):
            dimensions.append(dict(label=key, values=values))
    colour = [_number(r["metrics"].get("avg_gap")) or 0.0 for r in mine]
    fig = go.Figure(go.Parcoords(dimensions=dimensions,
                                 line=dict(color=colour, colorscale="Viridis", showscale=True,
                                           colorbar=dict(title="avg gap"))))
    fig = styled(fig, f"{method}: grid parameters and metrics", height=420)
    fig.update_layout(margin=dict(l=40, r=20, t=96, b=24))  # axis labels sit above the plot, below the title
    return fig


__all__ = [
    "HOW_TO_READ",
    "TABLE_METRICS",
    "cell_label",
    "parallel_coordinates",
    "param_names",
    "pareto_cells",
    "pareto_scatter",
    "results_table",
]
