"""The real dashboard in headless Chromium: run the demo, read every method's metrics off Compare and visit every
page. With UNLEARN_SCREENSHOTS=1 it also saves a screenshot of each page to docs/screenshots/<page>.png (the
README's pictures); a plain `pytest` writes nothing into the repository."""

from __future__ import annotations

import os
import re
import time

import pytest
from e2ehelpers import README_SHOTS, full_page_shot, readme_shots_wanted, wait_idle

pytestmark = pytest.mark.e2e

SHOTS = README_SHOTS if readme_shots_wanted() else None
# pages/home.py's demo (partial_amnesiac is left out: it refuses a whole class by design)
DEMO_METHODS = ("semu", "slug", "mnemonic", "partial_label_flip", "partial_gradient_ascent")
# each page with the heading it draws last, so a screenshot waits for the whole page
PAGES = {"model": "Model card", "forget_set": "What will be forgotten", "unlearn": "Recent runs",
         "inside": "Every method: how much each layer moved",
         "predictions": "What if: one-shot methods with another setting", "privacy": "Over several seeds",
         "report": "Presets"}
DEMO_TIMEOUT_S = float(os.environ.get("UNLEARN_E2E_DEMO_TIMEOUT", "600"))


@pytest.fixture(scope="module")
def page(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def assert_no_exception(page, name: str) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, f"exception shown on {name}"


def shoot(page, name: str) -> None:
    """The README's screenshot of a page, only with UNLEARN_SCREENSHOTS=1 (see the module docstring)."""
    if SHOTS is not None:
        full_page_shot(page, SHOTS / f"{name}.png")


def read_table(page) -> dict[str, list[str]]:
    """The Compare table as {row label: [cell texts]}."""
    table = page.locator("[data-testid='stTable'] table").first
    rows = {}
    for row in table.locator("tbody tr").all():
        label = row.locator("th").first.inner_text().strip()
        rows[label] = [c.inner_text().strip() for c in row.locator("td").all()]
    return rows


def test_demo_reaches_compare_and_every_page_renders(server, page):
    from unlearn_core.methods import HISTORY_PANEL, METHODS, get_method, list_methods

    registered = set(list_methods())
    expected = [m for m in DEMO_METHODS if m in registered and "class" in get_method(m).info.scenarios]

    page.goto(server)
    wait_idle(page)
    page.get_by_role("button", name="Run the demo").wait_for(timeout=60_000)
    assert_no_exception(page, "home")
    shoot(page, "home")
    start = time.monotonic()
    page.get_by_role("button", name="Run the demo").click()
    # progress from the first second: a stage with its time left, before any model has finished training
    banner = page.locator("[data-testid='stProgress']").filter(has_text=re.compile(r"stage \d+ of \d+: .* left"))
    banner.first.wait_for(timeout=15_000)
    print(f"demo progress shown {time.monotonic() - start:.1f} s after the click: {banner.first.inner_text()}")
    page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
    # results arrive as the queued runs finish; wait until every expected method has a row
    deadline = start + DEMO_TIMEOUT_S
    rows: dict[str, list[str]] = {}
    body = ""
    while time.monotonic() < deadline:
        if page.locator("[data-testid='stTable']").count():
            rows = read_table(page)
            body = page.inner_text("body")
            if "0 waiting or running" in body and all(m in rows or f"{m} (failed)" in body for m in expected):
                break
        time.sleep(1)
    seconds = time.monotonic() - start
    print(f"demo finished on Compare after {seconds:.1f} s")
    assert_no_exception(page, "compare")
    # every demo method has a row of numbers, or is listed as failed with its reason (never a NaN row)
    finished = [m for m in expected if m in rows]
    failed = [m for m in expected if m not in rows]
    assert {"original", "retrain"} <= set(rows) and finished, rows.keys()
    for method in failed:
        assert re.search(rf"{method} \(failed\): \S+", body), method
    for method in ["original", "retrain", *finished]:
        cells = rows[method]
        assert cells and all(re.search(r"\d", c) or c == "—" for c in cells), (method, cells)
        assert "nan" not in " ".join(cells).lower()
    wait_idle(page)
    shoot(page, "compare")

    for name, last_heading in PAGES.items():
        page.goto(f"{server}/{name}")
        page.get_by_role("heading", name=last_heading).wait_for(timeout=240_000)
        page.get_by_role("button", name="Stop").wait_for(state="hidden", timeout=240_000)
        assert_no_exception(page, name)
        if name == "inside":
            # every panel a finished demo method declares (beside the method) has its section
            for method in finished:
                for panel in METHODS.get(method).panels:
                    if panel is not HISTORY_PANEL:
                        page.get_by_role("heading", name=f"{method}: {panel.title}").wait_for(timeout=10_000)
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        shoot(page, name)
