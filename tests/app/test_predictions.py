"""Predictions page: prediction table over all models, attributions, what-if sliders."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_predictions_table_and_attributions(populated):
    at = open_page("pages/predictions.py")
    assert_clean(at)
    table = at.table[0].value
    assert {"original", "retrain", "finetune (epochs=1)", "gradient_ascent (epochs=1)"} <= set(table.columns)
    assert len(table) == 8  # four forget and four retain images by default
    assert "Attributions before and after" in texts(at)
    at.radio(key="pred_attribution").set_value("gradcam").run()
    assert_clean(at)
    assert "What if" in texts(at)
