"""Forget quality page: verdict, attack panel with a movable threshold, CKA and embedding of a stored run."""

from __future__ import annotations

import numpy as np
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


def test_a_running_probe_shows_its_progress_as_it_moves(populated):
    """The seeds panel draws its job's own live bar (not the line of the moment the page was drawn)."""
    import threading

    from pages._ui import common
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec
    from unlearn_core.jobs import JobFailed

    step, release = threading.Event(), threading.Event()

    def work(progress, stop):  # stands in for the probe's sweep: reports, then waits for the test
        progress(0.25, "seed 1: finetune: epoch 1/2")
        step.wait(60)
        progress(0.5, "seed 1: finetune: epoch 2/2")
        release.wait(60)
        raise JobFailed("stopped by the test")

    spec = ExperimentSpec.from_dict(populated[0]["experiment"])
    at = open_page("pages/privacy.py")
    job_id = common.runner().submit("privacy", work, title="1 method(s) × 2 seeds", device="cpu",
                                    owner=at.session_state["session_id"])
    at.session_state["privacy_seed_jobs"] = {f"{spec.key}|{ForgetSpec(classes=(3,)).key}": job_id}

    def bar() -> str:
        texts_ = [p.proto.text for p in at.get("progress")]
        return next((t for t in texts_ if "Over seeds:" in t), "")

    common.runner().wait(job_id, timeout=0.5)
    at.run()
    assert "seed 1: finetune: epoch 1/2" in bar() and "(25%)" in bar(), bar()
    step.set()
    while "epoch 2/2" not in (common.runner().get(job_id).message or ""):
        common.runner().wait(job_id, timeout=0.1)
    at.run()
    assert "epoch 2/2" in bar() and "(50%)" in bar(), bar()
    release.set()
    common.runner().wait(job_id, timeout=30)
    at.run()
    assert any("Seeds failed: stopped by the test" in e.value for e in at.error)


def _finished_ulira(at, job_key_prefix: str = "", **radios: str):
    """Queues U-LiRA with 2 pairs of 1 shadow epoch and the given radio choices (key suffix -> value) on the
    Forget quality page and returns its finished job."""
    from pages._ui import common

    at.number_input(key="privacy_ulira_pairs").set_value(2).run()
    at.number_input(key="privacy_ulira_epochs").set_value(1).run()
    for name, value in radios.items():
        at.radio(key=f"privacy_ulira_{name}").set_value(value).run()
    at.button(key="privacy_ulira_go").click().run()
    assert_clean(at)
    job_id = next(v for k, v in at.session_state["privacy_ulira_jobs"].items() if k.startswith(job_key_prefix))
    job = common.runner().wait(job_id, timeout=300)
    assert job is not None and job.status == "ok", job and job.error
    return job


def test_ulira_runs_its_shadow_pairs_on_the_chosen_executor(populated):
    at = open_page("pages/privacy.py")
    job = _finished_ulira(at, executor="local")
    assert job.result["executor"]["name"] == "local" and len(job.result["shadow_run_ids"]) == 2
    at.run()
    assert_clean(at)
    assert "Attack accuracy" in texts(at)


def test_ulira_on_the_original_model_attacks_the_model_the_run_started_from(populated):
    from pages._ui import common
    from unlearn_core.data import Splits
    from unlearn_core.metrics.ulira import forget_phi

    at = open_page("pages/privacy.py")
    job = _finished_ulira(at, "original:", target="the original model")
    assert job.title.startswith("U-LiRA-lite · the original model of ")
    record = common.lab().run_record(at.session_state["privacy_run"])
    base = common.lab().base_for_record(record)
    splits = Splits.build(common.lab().dataset(base.spec), record.forget_spec(), common.lab().device)
    assert job.result["method"] == "original"
    assert np.array_equal(job.result["phi"]["target"], forget_phi(base.model, splits))
