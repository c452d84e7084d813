"""Forget quality page: verdict, attack panel with a movable threshold, CKA and embedding of a stored run."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_privacy_page_shows_every_panel_for_a_stored_run(populated):
    at = open_page("pages/privacy.py")
    assert_clean(at)
    headers = {h.value for h in at.subheader}
    assert {"Verdict", "Attacks", "U-LiRA-lite (per-image attack)", "Representations", "Relearn probe",
            "Over several seeds"} <= headers
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert len(charts) >= 4  # distributions, threshold sweep, CKA, embedding
    threshold = next(s for s in at.slider if s.key and s.key.startswith("privacy_threshold"))
    threshold.set_value(threshold.min + (threshold.max - threshold.min) / 3).run()
    assert_clean(at)
    assert "forget" in texts(at).lower()


def test_relearn_probe_runs_on_demand(populated):
    at = open_page("pages/privacy.py")
    at.button(key="privacy_relearn_go").click().run()
    assert_clean(at)
    assert len({c.proto.id for c in at.get("plotly_chart")}) >= 5
    assert "Steps to" in texts(at)
    at.radio(key="privacy_statistic").set_value(at.radio(key="privacy_statistic").options[-1]).run()  # next click
    assert_clean(at)
    assert "Steps to" in texts(at)  # the probe's result is kept, not lost at the next click
