"""A server restart under an open tab: the tab recovers to the app's own navigation and page without a reload,
and the job it was running is shown to its owner as interrupted (the queue lived in the old process)."""

from __future__ import annotations

import re
import time

import pytest
from e2ehelpers import wait_idle
from e2eserver import start_server

pytestmark = pytest.mark.e2e

APP_PAGES = ("Home", "Model", "Forget set", "Unlearn", "Compare", "Report")  # st.Page titles, not file names


def nav_lines(page) -> list[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    return [line.strip() for line in nav.inner_text().splitlines() if line.strip()] if nav.count() else []


def test_an_open_tab_recovers_after_a_restart_and_sees_its_job_interrupted(tmp_path, browser):
    home, log = tmp_path / "home", tmp_path / "server.log"
    proc, url = start_server(home, log)
    port = int(url.rsplit(":", 1)[1])
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{url}/model")  # a deep link as the first request of a fresh server
        wait_idle(page, 180)
        assert re.search(r"[?&]sid=[0-9a-f]{32}", page.url), page.url
        assert all(title in nav_lines(page) for title in APP_PAGES), nav_lines(page)
        page.get_by_role("button", name="Train in the background").click()
        page.get_by_role("button", name="Cancel").first.wait_for(timeout=60_000)  # running: the digits model

        proc.terminate()
        proc.wait(timeout=30)
        proc, _ = start_server(home, log, port)  # same port and workspace: the tab reconnects on its own

        # no reload: the open tab gets the app's navigation back and its own job, now interrupted
        page.get_by_text(re.compile("the server stopped before this job finished")).first.wait_for(timeout=180_000)
        wait_idle(page, 120)
        lines = nav_lines(page)
        assert all(title in lines for title in APP_PAGES) and "app" not in lines, lines
        body = page.inner_text("[data-testid='stMain']")
        assert "Model" in page.locator("[data-testid='stMain'] h1").first.inner_text()
        assert "train cnn on digits" in body and "Cancel" not in body
        time.sleep(1)
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=30)
