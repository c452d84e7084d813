"""Inside views stay readable on a deep network: grids show the top layers, bar charts the top few dozen,
and each title says how many layers were left out."""

from __future__ import annotations

import torch

from unlearn_core.viz import inside

LAYERS = [f"features.{i}.block.0.weight" for i in range(60)]


def test_top_layers_keeps_model_order_and_says_what_is_left_out():
    scores = {name: float(i % 7) for i, name in enumerate(LAYERS)}
    kept, note = inside.top_layers(scores, 8)
    assert len(kept) == 8 and kept == [n for n in LAYERS if n in kept] and note == " — top 8 of 60 layers"
    assert inside.top_layers(scores, None) == (LAYERS, "")
    assert inside.top_layers(dict(list(scores.items())[:5]), 8)[1] == ""


def test_views_of_sixty_layers_show_the_top_ones():
    spectra = {n: {"singular_values": torch.rand(1, 6).sort(descending=True).values, "energy": torch.rand(1, 6),
                   "rank": i % 5 + 1, "trainable": (i % 5 + 1) ** 2, "numel": 100, "kind": "conv"}
               for i, n in enumerate(LAYERS)}
    fig = inside.semu_spectra(spectra)
    assert "top 8 of 60" in fig.layout.title.text and len(fig.layout.annotations) == 8
    assert len(inside.semu_rank_bars(spectra).data[0].x) == inside.TOP_BARS
    fisher = {n: {"log_ratio": torch.randn(4, 9)} for n in LAYERS}
    assert "top 8 of 60" in inside.fisher_heatmaps(fisher).layout.title.text
    masks = {n: {"count": torch.randint(0, 3, (4, 9)), "updated_fraction": i / 60} for i, n in enumerate(LAYERS)}
    fig = inside.mask_heatmaps(masks)
    assert len(fig.data) == 8 and "features.59.block.0.weight" in fig.layout.annotations[-1].text
    assert len(inside.updated_fraction_bars(masks).data[0].x) == inside.TOP_BARS
    changes = {"slug": {n: (1.0 if n == LAYERS[3] else 0.0) for n in LAYERS}, "ssd": {n: 0.01 for n in LAYERS}}
    heat = inside.layer_change_bars(changes)  # tensors are the heatmap's rows, runs its columns
    assert LAYERS[3] in heat.data[0].y and len(heat.data[0].y) == inside.TOP_BARS
    scores = [{"layer": n, "importance": 1.0 + i, "alignment": 0.5, "on_front": i == 59} for i, n in enumerate(LAYERS)]
    scatter = inside.slug_scatter(scores, [LAYERS[59]], LAYERS[59])
    # only the front and the chosen are labelled (names shortened so labels stay inside the plot)
    assert [t for t in scatter.data[-1].text if t] == [inside.short(LAYERS[59], 18)]
