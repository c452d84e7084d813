"""Forget set page: classes, random share, gallery, lasso, summary."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_forget_page_builds_the_spec(digits_base):
    at = open_page("pages/forget_set.py")
    assert_clean(at)
    assert at.multiselect(key="forget_classes").value == [3]
    assert "Forget set:** class 3" in texts(at)
    at.multiselect(key="forget_classes").set_value([3, 7]).run()
    assert_clean(at)
    assert "classes 3, 7" in texts(at)
    assert at.session_state["forget_spec"]["classes"] == (3, 7)


def test_gallery_toggle_and_random_share(digits_base):
    at = open_page("pages/forget_set.py")
    at.button(key="gallery_toggle_0").click().run()
    assert_clean(at)
    assert at.session_state["forget_spec"]["indices"] == (0,)
    assert at.button(key="gallery_toggle_0").label == "✓ chosen"
    at.checkbox(key="forget_random_on").check().run()
    assert at.session_state["forget_spec"]["random_fraction"] == 0.1
    assert any(m.label == "Scenario" and m.value == "mixed" for m in at.metric)
    at.button(key="forget_clear").click().run()
    assert_clean(at)
    assert "empty" in texts(at)
