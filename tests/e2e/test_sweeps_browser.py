"""The Sweeps page in headless Chromium: define a grid, run it on the local process pool, watch per-cell
progress, read the results table and figures (with the layout check), and open a cell on Compare."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from e2ehelpers import README_SHOTS, full_page_shot, layout_problems, readme_shots_wanted, settle_figures

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("UNLEARN_E2E_SHOTS", "/tmp"))  # sweeps_results.png, and sweeps_end.png as left


def test_sweep_page_runs_a_grid_and_links_a_cell_to_compare(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(server)  # from Home through the navigation, as a user gets there
    page.get_by_role("link", name="Sweeps").click()
    try:
        drive(page)
    finally:
        shoot(page, "sweeps_end")
        context.close()


def shoot(page, name: str) -> None:
    full_page_shot(page, SHOTS / f"{name}.png", height=1100)


def drive(page) -> None:
    """The user's path through the page; the screenshot shows where it stopped if it fails."""
    page.get_by_role("heading", name="Sweeps").wait_for(timeout=90_000)
    epochs = page.get_by_role("spinbutton", name="Base-model epochs")
    epochs.fill("2")
    epochs.press("Enter")
    page.get_by_role("button", name="Start sweep of 1 cells").wait_for(timeout=60_000)
    params = page.locator("[data-testid='stMultiSelect']").nth(1)
    params.click()
    page.get_by_role("option", name="search_steps").click()
    page.keyboard.press("Escape")
    values = page.get_by_role("textbox", name="search_steps values")
    values.fill("5,10")
    values.press("Enter")
    start = page.get_by_role("button", name="Start sweep of 2 cells")
    start.wait_for(timeout=60_000)
    start.click()
    page.get_by_text("cells finished").first.wait_for(timeout=120_000)  # per-cell progress while it runs
    page.get_by_text("Executor: local").first.wait_for(timeout=300_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    time.sleep(3.0)  # the live panel's last ticks and the page's rerun once the sweep ended
    nav = page.locator("[data-testid='stSidebarNav']")  # reported lost after a sweep finished
    assert nav.is_visible(), "the sidebar navigation is gone after the sweep finished"
    assert nav.get_by_role("link", name="Compare").is_visible() and nav.get_by_role("link", name="Sweeps").is_visible()
    assert page.locator("[data-testid='stException']").count() == 0
    body = page.inner_text("body")
    assert "Forgetting vs utility across cells" in body or page.locator(".js-plotly-plot").count() >= 2
    settle_figures(page)
    figures, problems = layout_problems(page)  # the layout check of every other page (tests/e2e/test_layout.py)
    assert figures >= 2 and not problems, "\n".join(problems)
    shoot(page, "sweeps_results")
    if readme_shots_wanted():
        full_page_shot(page, README_SHOTS / "sweeps.png")
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection box
    inspect = page.get_by_role("button", name="Inspect the selected cell on Compare")
    page.wait_for_function("b => !b.disabled", arg=inspect.element_handle(), timeout=30_000)
    inspect.click()
    page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
    page.locator("[data-testid='stTable']").first.wait_for(timeout=120_000)
    assert "slug" in page.locator("[data-testid='stTable']").first.inner_text()
