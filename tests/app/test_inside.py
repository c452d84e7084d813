"""Inside the methods: every panel a method declares is drawn for its runs, plus the per-layer weight change."""

from __future__ import annotations

import pytest
from apphelpers import assert_clean, open_page, texts

from unlearn_core.methods import HISTORY_PANEL, METHODS, list_methods

# one method of each kind of panel: spectra, layer scores, Fisher maps, update masks
WITH_PANELS = ("semu", "slug", "mnemonic", "partial_label_flip")


@pytest.fixture(scope="module")
def seed_runs(lab, populated):
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec

    ran = [m for m in WITH_PANELS if m in list_methods()]
    for method in ran:
        lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), method)
    return ran


def test_inside_draws_every_panel_of_the_runs(seed_runs):
    at = open_page("pages/inside.py")
    assert_clean(at)
    page = texts(at)
    for method in seed_runs:
        for panel in METHODS.get(method).panels:
            if panel is not HISTORY_PANEL:
                assert f"{method}: {panel.title}" in page, method
                assert panel.caption in page
    assert "Every method: how much each layer moved" in page
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) >= 1 + 2 * len(seed_runs)
