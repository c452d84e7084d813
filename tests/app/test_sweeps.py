"""Sweeps page: grid editor with cell count and cost, a background sweep with per-cell progress, results."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_grid_counts_cells_and_bad_values_are_one_line(digits_base):
    at = open_page("pages/sweeps.py")
    assert_clean(at)
    at.multiselect(key="sweeps_params_slug").set_value(["search_steps"]).run()
    at.text_input(key="sweeps_values_slug_search_steps").set_value("5,10,20").run()
    at.text_input(key="sweeps_seeds").set_value("0,1").run()
    assert_clean(at)
    assert "6 cells" in texts(at)
    assert at.button(key="sweeps_start").label == "Start sweep of 6 cells"
    at.text_input(key="sweeps_values_slug_search_steps").set_value("0,10").run()
    assert [e.value for e in at.error] == ["grid slug.search_steps: search_steps must be >= 1, got 0"]
    assert at.button(key="sweeps_start").disabled


def test_a_sweep_runs_in_the_background_and_fills_the_results(digits_base):
    from pages._ui import common

    at = open_page("pages/sweeps.py")
    at.number_input(key="sweeps_epochs").set_value(2).run()
    at.multiselect(key="sweeps_methods").set_value(["gradient_ascent"]).run()
    at.multiselect(key="sweeps_params_gradient_ascent").set_value(["epochs"]).run()
    at.text_input(key="sweeps_values_gradient_ascent_epochs").set_value("1,2").run()
    at.radio(key="sweeps_executor").set_value("sequential").run()
    at.button(key="sweeps_start").click().run()
    assert_clean(at)
    job_id = at.session_state["sweeps_job"]["job"]
    job = common.runner().wait(job_id, timeout=300)
    assert job is not None and job.status == "ok", job and job.error
    at.run()
    assert_clean(at)
    assert "Executor:** sequential" in texts(at)
    table = at.dataframe(key="sweeps_table").value
    assert list(table["status"]) == ["ok", "ok"] and list(table["epochs"]) == [1, 2]
    assert all(run.startswith("cell-") for run in table["run"])
    assert at.button(key="sweeps_inspect").disabled  # no row selected yet

    # a second sweep replaces the first in the results picker, which otherwise keeps its earlier choice
    at.text_input(key="sweeps_values_gradient_ascent_epochs").set_value("1,3").run()
    at.button(key="sweeps_start").click().run()
    job = common.runner().wait(at.session_state["sweeps_job"]["job"], timeout=300)
    assert job is not None and job.status == "ok", job and job.error
    at.run()
    assert_clean(at)
    assert list(at.dataframe(key="sweeps_table").value["epochs"]) == [1, 3]
