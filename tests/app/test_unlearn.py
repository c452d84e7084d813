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


def test_an_imported_checkpoint_can_be_chosen_and_unlearned(lab, digits_base):
    from pages._ui import common

    imported = lab.register_imported(digits_base.spec, digits_base.model.state_dict(), "test upload")
    at = open_page()  # the app frame sets the session up
    at.session_state["imported_model_key"] = imported.key
    at.switch_page("pages/unlearn.py").run()
    assert_clean(at)
    radio = at.radio(key="unlearn_target_model")
    radio.set_value(imported.key).run()  # options are "trained" and the imported key, shown with their labels
    assert any(imported.key in m.value for m in at.markdown)
    at.checkbox(key="unlearn_use_slug").check().run()
    at.button(key="unlearn_queue").click().run()
    assert_clean(at)
    job = common.runner().wait(at.session_state["submitted_jobs"][-1], timeout=300)
    assert job is not None and job.status == "ok", job and job.error
    assert job.result["experiment_key"] == imported.key and job.result["metrics"]["forget_acc"] <= 0.05
