"""Inside the methods: one view per seed method family plus the per-layer weight change of every run."""

from __future__ import annotations

import pytest
from apphelpers import assert_clean, open_page, texts

from unlearn_core.methods import list_methods

VIEWS = {"semu": "SEMU: singular-value spectra", "slug": "SLUG: which single layer to edit",
         "mnemonic": "Mnemonic code: Fisher sensitivity", "partial_label_flip": "Partial methods: update masks"}


@pytest.fixture(scope="module")
def seed_runs(lab, populated):
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec

    ran = [m for m in VIEWS if m in list_methods()]
    for method in ran:
        lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), method)
    return ran


def test_inside_draws_every_available_view(seed_runs):
    at = open_page("pages/inside.py")
    assert_clean(at)
    page = texts(at)
    for method, title in VIEWS.items():
        assert title in page
        if method in seed_runs:
            assert f"no finished **{method}**" not in page, method
    assert "Every method: how much each layer moved" in page
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) >= 1 + 2 * len(seed_runs)
