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


def test_the_whatif_slider_starts_at_the_value_the_run_used(lab, populated):
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec
    from unlearn_core.methods import whatif_hooks

    hook = whatif_hooks("mnemonic")[0].whatif
    options, start = hook.choices({}, {"lambda1": 5e-3})
    assert start == 5e-3 and 5e-3 in options
    assert hook.choices({}, {})[1] == 2e-3  # a run without stored params: the method's default, not 1e-3

    lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "mnemonic", {"lambda1": 5e-3})
    at = open_page("pages/predictions.py")
    assert_clean(at)
    assert at.select_slider(key="whatif_mnemonic (lambda1=0.005)").value == 5e-3
