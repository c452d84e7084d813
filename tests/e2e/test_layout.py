"""The layout check on every page of the dashboard and in the exported report: no two text elements of a
Plotly figure overlap or are cut by the figure's bounds, no legend covers its title, no repeated tick label."""

from __future__ import annotations

import pytest
from e2ehelpers import layout_problems, settle_figures, wait_idle

pytestmark = pytest.mark.e2e

PAGES = ("", "model", "forget_set", "unlearn", "compare", "inside", "predictions", "privacy", "report")


def test_every_page_passes_the_layout_check(app_server, context):
    page = context.new_page()
    found: dict[str, list[str]] = {}
    drawn = 0
    for name in PAGES:
        page.goto(f"{app_server}/{name}")
        wait_idle(page, 120)
        page.get_by_role("button", name="Stop").wait_for(state="hidden", timeout=120_000)
        settle_figures(page)
        assert page.locator("[data-testid='stException']").count() == 0, name
        figures, problems = layout_problems(page)
        drawn += figures
        if problems:
            found[name or "home"] = problems
    assert drawn >= 20
    assert not found, "\n".join(f"{name}: {p}" for name, problems in found.items() for p in problems)


def test_the_report_passes_the_layout_check(populated_home, browser, tmp_path):
    from unlearn_core.experiment import Lab
    from unlearn_core.report import write_report
    from unlearn_core.store import Store

    lab = Lab(Store(populated_home), device="cpu")
    runs = [r["id"] for r in lab.store.list_runs() if r["status"] == "ok"]
    report = write_report(lab, runs, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(report.as_uri(), wait_until="load")
    settle_figures(page)
    figures, problems = layout_problems(page)
    page.close()
    assert figures >= 10
    assert not problems, "\n".join(problems)
