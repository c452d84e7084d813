"""Figure builders and the compare table: right data in, right marks out, no Streamlit involved."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from unlearn_core.viz import compare, inside, model
from unlearn_core.viz.style import method_color


def _metrics(forget: float, utility: float, seconds: float = 1.0) -> dict:
    return {"forget_acc": forget, "retain_acc": 0.99, "test_acc": utility, "test_acc_forget_classes": forget,
            "test_acc_retain_classes": utility, "mia_efficacy": 1 - forget, "mia_loss_auc": 0.5,
            "avg_gap": 0.1, "changed_fraction": 0.5, "seconds": seconds, "per_class_acc": [utility, forget],
            "confusion_matrix": [[5, 1], [2, 4]],
            "gap_to_retrain": {"forget_acc": forget, "retain_acc": 0.0, "test_acc": 0.0, "mia_efficacy": 0.0}}


@pytest.fixture
def entries():
    return [
        {"label": "original", "method": "original", "metrics": _metrics(1.0, 0.99, 0.0)},
        {"label": "retrain", "method": "retrain", "metrics": _metrics(0.0, 0.98, 3.0)},
        {"label": "finetune", "method": "finetune", "metrics": _metrics(0.9, 0.99, 0.5)},
        {"label": "gradient_ascent", "method": "gradient_ascent", "metrics": _metrics(0.05, 0.985, 0.2)},
        {"label": "bad", "method": "bad", "metrics": _metrics(0.5, 0.50, 0.1)},
    ]


def test_pareto_front_minimises_x_and_maximises_y():
    points = [(0.0, 0.5), (0.1, 0.9), (0.2, 0.8), (0.3, 0.95), (0.0, 0.4)]
    assert compare.pareto_front(points) == [0, 1, 3]


def test_metrics_table_never_holds_nan(entries):
    entries[2]["metrics"]["mia_loss_auc"] = float("nan")
    del entries[3]["metrics"]["seconds"]
    table = compare.metrics_table(entries)
    assert table.loc["finetune", "mia_loss_auc"] is None
    assert table.loc["gradient_ascent", "seconds"] is None
    assert table.loc["retrain", "forget_acc"] == 0.0
    text = compare.styled_table(entries).to_html()
    assert "nan" not in text.lower()
    assert "—" in text


def test_closeness_scores_favour_the_run_nearest_retrain(entries):
    scores = compare.closeness_scores(compare.metrics_table(entries))
    assert scores.loc["retrain", "forget_acc"] == 1.0
    assert scores.loc["gradient_ascent", "forget_acc"] > scores.loc["finetune", "forget_acc"]
    assert scores.loc["original", "forget_acc"] == 0.0
    # run time is scored by direction (lower is better), not by distance to retrain
    assert scores.loc["bad", "seconds"] > scores.loc["retrain", "seconds"]
    # the changed share is descriptive: no colour, no arrow
    assert scores["changed_fraction"].isna().all()
    assert compare.column_label("changed_fraction") == "Changed fraction"


def test_column_labels_carry_direction_arrows():
    assert compare.column_label("test_acc").endswith("↑")
    assert compare.column_label("seconds").endswith("↓")
    assert compare.column_label("forget_acc").endswith("(closer to retrain)")
    # class forgetting: the whole test set holds the forgotten class, so retrain's test accuracy is the target
    assert compare.column_label("test_acc", class_scenario=True).endswith("(closer to retrain)")


def test_forget_utility_scatter_draws_the_front_among_methods(entries):
    fig = compare.forget_utility_scatter(entries, entries[1]["metrics"])
    front = next(t for t in fig.data if t.name == "Pareto front")
    # points are (|forget_acc - 0|, utility): among the methods, gradient_ascent (.05, .985) and finetune (.9, .99)
    # are on the front and bad (.5, .5) is dominated; original and retrain are references, not contenders
    assert list(front.x) == [0.05, 0.9]
    names = [t.name for t in fig.data if t.mode == "markers"]
    assert names == ["original", "retrain", "finetune ◆ front", "gradient_ascent ◆ front", "bad"]
    # every point carries its run id for the click-through
    assert [t.customdata[0] for t in fig.data if t.mode == "markers"][2:] == [e.get("run_id", "") for e in
                                                                              entries[2:]]


def test_compare_figures_build(entries):
    for fig in (compare.gap_bars(entries), compare.per_class_heatmap(entries, ["a", "b"]),
                compare.confusion_grid(entries, ["a", "b"]), compare.cost_bars(entries)):
        assert isinstance(fig, go.Figure) and len(fig.data) > 0
    heat = compare.per_class_heatmap(entries, ["a", "b"])
    assert list(heat.data[0].y) == [e["label"] for e in entries]


def test_method_colours_are_stable_and_references_fixed():
    assert method_color("retrain") == "#2ca02c"
    assert method_color("finetune") != method_color("finetune (epochs=2)")  # a variant has its own shade
    assert method_color("finetune (epochs=2)") == method_color("finetune (epochs=2)")


def test_model_figures():
    assert len(model.history_figure([{"epoch": 1, "loss": 1.0, "test_acc": 0.5}]).data) == 2
    assert model.confusion_figure([[3, 1], [0, 4]], ["a", "b"]).data[0].z.shape == (2, 2)
    tiles = model.image_tiles(np.zeros((3, 8, 8, 1), dtype=np.uint8), ["x", "y", "z"], columns=2)
    assert len(tiles.data) == 3 and tiles.data[0].z.shape == (8, 8, 3)
    emb = model.embedding_scatter(np.random.rand(6, 2), np.array([0, 0, 1, 1, 1, 0]), ["a", "b"],
                                  np.array([True, False, False, False, True, False]), np.arange(6))
    assert sorted(int(i) for t in emb.data for i in t.customdata) == list(range(6))


def test_semu_spectra_marks_rank_and_tau():
    sv = torch.linspace(10, 0.1, 12).repeat(3, 1)
    spectra = {"c1": {"kind": "conv", "singular_values": sv, "energy": torch.cumsum(sv, 1) / sv.sum(1, keepdim=True),
                      "rank": 4, "tau": 0.9, "trainable": 16, "numel": 288}}
    fig = inside.semu_spectra(spectra)
    assert list(next(t for t in fig.data if t.name == "chosen rank r").x) == [4.0, 4.0]
    assert any(t.name == "threshold τ" for t in fig.data)
    assert fig.layout.yaxis.type == "log"  # 10 to 0.1 spans two decades
    flat = {"c1": {**spectra["c1"], "singular_values": torch.linspace(3, 1, 12).repeat(3, 1)}}
    assert inside.semu_spectra(flat).layout.yaxis.type == "linear"  # under a decade a log axis reads 2, 3, ..
    assert len(inside.semu_rank_bars(spectra).data) == 2


def test_slug_views():
    scores = [{"layer": "c1.weight", "importance": 0.1, "alignment": 0.5, "numel": 288, "on_front": False},
              {"layer": "f2.weight", "importance": 0.9, "alignment": 0.2, "numel": 1280, "on_front": True}]
    fig = inside.slug_scatter(scores, ["f2.weight"], "f2.weight")
    points = next(t for t in fig.data if t.name == "layers")
    assert list(points.marker.symbol) == ["circle", "star"]
    assert fig.layout.xaxis.type == "log"
    search = inside.slug_step_search([{"step": 0, "lambda": 1.0, "forget_acc": 0.5, "meets_target": False},
                                      {"step": 1, "lambda": 2.0, "forget_acc": 0.0, "meets_target": True}])
    assert list(search.data[0].marker.symbol) == ["circle-open", "circle"]
    marked = inside.slug_step_search([{"step": 0, "lambda": 1.0, "forget_acc": 0.5, "meets_target": True}], "t", 1.0)
    assert [t.name for t in marked.data][-1] == "chosen λ=1"
    front = next(t for t in fig.data if t.name == "Pareto front")  # one front layer still draws its staircase
    assert 0.2 in list(front.x) and 0.9 in list(front.y)


def test_mnemonic_and_partial_views():
    fisher = {"c1.weight": {"log_ratio": torch.randn(32, 1, 3, 3)}, "f2.weight": {"log_ratio": torch.randn(10, 128)}}
    fig = inside.fisher_heatmaps(fisher, forgotten=(3,), num_classes=10)
    assert fig.data[0].z.shape == (32, 9)
    assert fig.layout.coloraxis.cmid == 0 and fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax
    box = fig.layout.shapes[0]  # the forgotten class's row of the output layer
    assert (box.y0, box.y1) == (2.5, 3.5) and box.xref == "x2"
    codes = inside.codes_to_images(torch.rand(10, 1, 8, 8))
    assert codes.shape == (10, 8, 8, 1) and codes.dtype == np.uint8
    moved = inside.moved_share_bars({"c1": {"1e-4": 0.5, "1e-3": 0.2, "1e-2": 0.01}})
    assert [t.name for t in moved.data] == ["|δ| > 1e-4", "|δ| > 1e-3", "|δ| > 1e-2"]
    masks = {"c1.weight": {"updated_fraction": 0.25, "count": torch.ones(32, 9)}}
    assert "25.0% updated" in inside.mask_heatmaps(masks).layout.annotations[0].text
    curve = inside.storage_curve({"rho": 0.1, "stored_mb": 1.0, "full_mb": 10.0,
                                  "curve": [{"rho": 0.01, "stored_mb": 0.1}, {"rho": 1.0, "stored_mb": 10.0}]})
    assert [t.name for t in curve.data] == ["stored updates", "full amnesiac (10.0 MB)", "this run (ρ=0.1)"]


def test_layer_change_marks_untouched_tensors_instead_of_drawing_them():
    fig = inside.layer_change_bars({"slug": {"c1.weight": 0.0, "f2.weight": 0.3}})
    heat = fig.data[0]
    assert math.isnan(heat.z[0][0]) and heat.text[0][0] == "unchanged"
    assert math.isclose(heat.z[1][0], math.log10(0.3)) and math.isclose(heat.customdata[0][0], 0.0)


def test_every_figure_carries_a_how_to_read_caption(entries):
    from unlearn_core.viz.style import how_to_read

    figures = [compare.forget_utility_scatter(entries, entries[1]["metrics"]), compare.gap_bars(entries),
               compare.cost_bars(entries), compare.per_class_heatmap(entries, ["a", "b"]),
               compare.confusion_grid(entries, ["a", "b"]), inside.layer_change_bars({"x": {"w": 0.1}})]
    assert all(how_to_read(f) for f in figures)
