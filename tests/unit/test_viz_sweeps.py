"""Sweep figures: the Pareto front across cells, the results table, parallel coordinates with categories."""

from __future__ import annotations

from unlearn_core.viz import sweeps as viz


def row(method: str, params: dict, seed: int, gap: float, utility: float, status: str = "ok") -> dict:
    return {"cell": f"{method}{params}{seed}", "run_id": f"cell-{method}{seed}", "method": method, "seed": seed,
            "forget": "class 3", "params": params, "status": status,
            "metrics": {"forget_gap": gap, "test_acc_retain_classes": utility, "avg_gap": gap / 2} if status == "ok"
            else {}}


ROWS = [row("slug", {"search_steps": 5}, 0, 0.10, 0.90), row("slug", {"search_steps": 10}, 0, 0.00, 0.80),
        row("slug", {"search_steps": 20}, 0, 0.20, 0.70),  # dominated by the first
        row("finetune", {"lr": 0.01, "order": "forget_then_retain"}, 0, 0.05, 0.95),
        row("finetune", {"lr": 0.1, "order": "interleave"}, 1, 0.0, 0.0, status="failed")]


def test_pareto_front_spans_methods_and_skips_unfinished_cells():
    points = viz.pareto_cells(ROWS)
    assert len(points) == 4
    front = {p["row"]["run_id"] + str(p["row"]["params"]) for p in points if p["front"]}
    assert front == {"cell-slug0{'search_steps': 10}", "cell-finetune0{'lr': 0.01, 'order': 'forget_then_retain'}"}
    fig = viz.pareto_scatter(ROWS)
    assert [t.name for t in fig.data] == ["slug", "finetune", "Pareto front"]
    # a gap of exactly 0 and the extreme utilities lie inside the axes, so their markers are drawn whole
    (x_low, x_high), (y_low, y_high) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x_low < 0.0 and x_high > 0.20 and y_low < 0.70 and y_high > 0.95


def test_results_table_has_a_column_per_grid_parameter_and_the_run():
    table = viz.results_table(ROWS)
    assert list(table.columns[:5]) == ["method", "search_steps", "lr", "order", "seed"]
    assert table["run"].tolist()[0] == "cell-slug0" and table["status"].tolist()[-1] == "failed"


def test_parallel_coordinates_map_categories_to_ticks():
    fig = viz.parallel_coordinates(ROWS, "finetune")
    dims = {d.label: d for d in fig.data[0].dimensions}
    assert list(dims["order"].ticktext) == ["forget_then_retain"]
    assert "forget_gap" in dims and "seed" in dims
    assert viz.parallel_coordinates(ROWS, "semu").layout.annotations  # no cell: a message, not an error
    assert set(viz.HOW_TO_READ) == {"pareto", "parallel"}
