"""Home page: explanation, device, demo button, method list."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_home_explains_and_offers_the_demo(session_home):
    at = open_page()
    assert_clean(at)
    assert at.title[0].value == "Unlearning Lab"
    assert "retrain oracle" in texts(at)
    assert any(b.label == "▶ Run the demo" for b in at.button)
    assert "device:" in texts(at)
    assert "Baselines" in texts(at)
