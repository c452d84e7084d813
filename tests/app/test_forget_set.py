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


def test_chosen_images_show_as_thumbnails_with_their_count(digits_base):
    at = open_page("pages/forget_set.py")
    for index in (0, 1, 2):
        at.button(key=f"gallery_toggle_{index}").click().run()
    assert_clean(at)
    assert "Chosen so far: 3 images" in texts(at)
    # one image list above the gallery holds the three chosen thumbnails (each gallery image is its own element)
    lists = [[i.caption for i in im.proto.imgs] for im in at.get("image") if len(im.proto.imgs) > 1]
    assert [c.split(" · ")[0] for c in lists[0]] == ["#0", "#1", "#2"], lists


def test_an_invalid_set_can_still_be_cleared_and_unlearn_refuses_it(digits_base):
    at = open_page("pages/forget_set.py")
    at.multiselect(key="forget_classes").set_value(list(range(10))).run()
    assert not at.exception
    assert "cannot forget every class" in texts(at)
    at.switch_page("pages/unlearn.py").run()
    assert any("cannot be unlearned: cannot forget every class" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "unlearn_queue"]  # no Queue button for a set that must fail
    at.switch_page("pages/forget_set.py").run()
    at.button(key="forget_clear").click().run()
    assert_clean(at)
    assert at.session_state["forget_spec"]["classes"] == ()


def test_work_over_many_images_runs_in_the_background_and_the_page_stays_open(digits_base, monkeypatch):
    """As on 60,000 Fashion-MNIST images: the gallery's predictions and the embedding are background jobs with a
    live bar; the page draws without them, and shows them once they are done."""
    from pages._ui import common

    monkeypatch.setattr(common, "INLINE_IMAGES", 100)  # digits' 1,437 images count as large here
    common._background_values().clear()
    at = open_page("pages/forget_set.py")
    assert_clean(at)
    bars = " ".join(p.proto.text for p in at.get("progress"))
    assert "gallery predictions of base-" in bars and "pca embedding of base-" in bars, bars
    assert "when the embedding is ready" in texts(at)
    for job_id in at.session_state["background_value_jobs"].values():
        assert common.runner().wait(job_id, timeout=300).status == "ok"
    at.run()
    assert_clean(at)
    assert not [p for p in at.get("progress") if "embedding of" in p.proto.text]
    assert at.selectbox(key="gallery_prediction").value == "all"  # the prediction filters are there now
    assert "Drag a lasso around points" in texts(at)  # the embedding's map is drawn
