"""State that holds in a live demo, in headless Chromium on one shared app server: a reload keeps the forget set,
the model choice and Cancel on one's own job; the scenario chosen on Compare is the one Inside shows; an
out-of-range value disables Queue with its reason; variant labels read the same on Compare and in the report."""

from __future__ import annotations

import re
import time

import pytest
from e2ehelpers import wait_idle

pytestmark = pytest.mark.e2e


def sidebar_line(page, label: str) -> str:
    text = page.locator("[data-testid='stSidebar']").inner_text()
    return next(line for line in text.splitlines() if line.startswith(label))


def open_page(page, url: str) -> None:
    page.goto(url)
    wait_idle(page, 120)


def go(page, app_server: str, path: str) -> None:
    """Opens another page in this browser session (its ?sid names the session, as the app's own links keep it)."""
    sid = re.search(r"sid=([0-9a-f]+)", page.url).group(1)
    open_page(page, f"{app_server}/{path}?sid={sid}")


def scenario_box(page):
    return page.locator("[data-testid='stSelectbox']").filter(has_text="Scenario").first.locator("input")


def test_reload_keeps_forget_set_model_choice_and_cancel_on_own_job(app_server, context):
    page = context.new_page()
    open_page(page, f"{app_server}/forget_set")
    assert re.search(r"[?&]sid=[0-9a-f]{32}", page.url), page.url  # the session is named in the URL
    page.get_by_role("button", name="choose").first.click()  # hand-pick one image besides class 3
    wait_idle(page)
    go(page, app_server, "model")
    page.get_by_label("Seed", exact=True).fill("7")
    page.get_by_label("Seed", exact=True).press("Enter")
    time.sleep(2)  # the rerun starts after the key press; on a busy machine wait_idle could see the old run end
    wait_idle(page)
    forget, experiment = sidebar_line(page, "Forget set:"), sidebar_line(page, "Experiment:")
    assert "image" in forget and "seed 7" in experiment, (forget, experiment)  # the sidebar is not a rerun late
    page.get_by_role("button", name="Train in the background").click()
    page.get_by_role("button", name="Cancel").first.wait_for(timeout=30_000)

    page.reload()
    wait_idle(page, 120)
    assert sidebar_line(page, "Forget set:") == forget
    assert sidebar_line(page, "Experiment:") == experiment
    cancel = page.get_by_role("button", name="Cancel").first
    cancel.wait_for(timeout=30_000)  # still this session's job after the reload, not "(another session)"
    assert "(another session)" not in page.inner_text("body")
    cancel.click()
    page.get_by_text("cancelled by the user").first.wait_for(timeout=60_000)


def test_the_scenario_chosen_on_compare_is_the_one_inside_shows(app_server, context):
    page = context.new_page()
    open_page(page, f"{app_server}/compare")
    assert "forget class 3" in scenario_box(page).input_value()  # the newest scenario first
    scenario_box(page).click()
    page.get_by_role("option", name=re.compile("forget class 5")).click()
    time.sleep(2)  # the box shows the choice at once; the run that stores it follows
    wait_idle(page)
    assert "forget class 5" in scenario_box(page).input_value()
    go(page, app_server, "inside")
    assert "forget class 5" in scenario_box(page).input_value()
    go(page, app_server, "privacy")
    assert "forget class 5" in scenario_box(page).input_value()


def test_an_out_of_range_value_disables_queue_with_its_reason(app_server, context):
    page = context.new_page()
    open_page(page, f"{app_server}/unlearn")
    page.locator("[data-testid='stCheckbox']").filter(has_text="semu").first.click()
    wait_idle(page)
    field = page.get_by_label("epochs", exact=True).first
    field.fill("1000")  # semu's epochs go up to 200
    field.press("Enter")
    wait_idle(page)
    # Streamlit's markdown draws "<=" as "≤"
    page.get_by_text(re.compile(r"epochs must be (<=|≤) 200, got 1000")).first.wait_for(timeout=10_000)
    assert page.get_by_role("button", name=re.compile(r"Queue \d+ run")).is_disabled()
    assert "Fix 1 value before queueing" in page.inner_text("body")
    field.fill("20")
    field.press("Enter")
    wait_idle(page)
    assert page.get_by_role("button", name=re.compile(r"Queue \d+ run")).is_enabled()
    assert not re.search(r"must be (<=|≤)", page.inner_text("body"))


def test_variant_labels_match_between_compare_and_the_report(app_server, context, populated_home, tmp_path):
    from unlearn_core.experiment import Lab
    from unlearn_core.report import write_report
    from unlearn_core.store import Store

    page = context.new_page()
    open_page(page, f"{app_server}/compare")
    page.locator("[data-testid='stTable']").first.wait_for(timeout=60_000)
    table = page.locator("[data-testid='stTable'] table").first
    on_compare = [row.locator("th").first.inner_text().strip() for row in table.locator("tbody tr").all()]
    assert "semu (tau=0.99)" in on_compare and "semu" in on_compare, on_compare

    lab = Lab(Store(populated_home), device="cpu")
    runs = [r["id"] for r in lab.store.list_runs() if r["status"] == "ok" and r["forget"]["classes"] == [3]]
    html = write_report(lab, runs, tmp_path / "report.html").read_text()
    in_report = re.findall(r"<th[^>]*>([^<]+)</th>", html)
    assert [label for label in on_compare if label not in in_report] == []
