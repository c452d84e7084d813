"""Unlearn page: methods grouped by family, forms generated from configs, queueing."""

from __future__ import annotations

from apphelpers import assert_clean, open_page

from unlearn_core.methods import METHODS, list_methods


def test_every_method_has_a_checkbox_and_a_generated_form(digits_base):
    at = open_page("pages/unlearn.py")
    assert_clean(at)
    for name in list_methods():
        assert at.checkbox(key=f"unlearn_use_{name}") is not None
    at.checkbox(key="unlearn_use_finetune").check().run()
    assert_clean(at)
    for spec in METHODS.get("finetune").Config.params():
        widget = at.number_input(key=f"unlearn_param_finetune_{spec.name}")
        assert widget.value == spec.default
    assert at.button(key="unlearn_queue").label == "Queue 1 run"


def test_queueing_a_run_shows_it_in_the_job_panel(digits_base):
    at = open_page("pages/unlearn.py")
    at.checkbox(key="unlearn_use_finetune").check().run()
    at.number_input(key="unlearn_param_finetune_epochs").set_value(1).run()
    at.button(key="unlearn_queue").click().run()
    assert_clean(at)
    assert any("Queued finetune" in s.value for s in at.success)
    assert len(at.session_state["submitted_jobs"]) == 1
