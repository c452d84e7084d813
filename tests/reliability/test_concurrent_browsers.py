"""Two browser sessions queue unlearning jobs at the same time against one app server started as the README
does: they share one device queue, each sees its own job finish, and both get the results of sequential runs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
JOBS = {"finetune": "session A", "gradient_ascent": "session B"}
# session A's job runs long enough (several seconds) that session B queues while it is still running, so the
# shared queue is visible from B whatever the machine's speed
EPOCHS = {"finetune": 100, "gradient_ascent": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, lab, digits_base):
    """`streamlit run app.py --server.headless true --server.address 127.0.0.1 --server.port <free>` on a
    private workspace that already holds the trained digits model."""
    from relhelpers import clone_models

    from unlearn_core.store import Store

    home = tmp_path / "home"
    clone_models(lab.store, Store(home))
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port)],
        cwd=ROOT, env={**os.environ, "UNLEARN_HOME": str(home), "UNLEARN_DEVICE": "cpu"}, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.5)
    yield url, home
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _queue(page, url: str, method: str) -> None:
    """Opens the app, then the Unlearn page: opens the baselines, ticks `method`, sets its epochs, queues it."""
    # the front page first: a deep link into a server that has not yet run app.py's navigation opens the page
    # script on its own, without the session set-up (reported to the dashboard owner)
    page.goto(url)
    page.get_by_role("button", name="Run the demo").wait_for(timeout=120_000)
    page.goto(f"{url}/unlearn")
    baselines = page.get_by_text("Baselines (")
    baselines.wait_for(timeout=120_000)  # the first script run of a fresh server imports torch and the methods
    baselines.click()
    page.locator("label").filter(has_text=re.compile(rf"^{method} —")).first.click()  # not partial_{method}
    epochs = page.get_by_role("spinbutton", name="epochs").first
    epochs.wait_for(timeout=30_000)
    epochs.fill(str(EPOCHS[method]))
    epochs.press("Enter")
    page.get_by_role("button", name="Queue 1 run").wait_for(timeout=30_000)
    page.get_by_role("button", name="Queue 1 run").click()
    page.get_by_text(f"Queued {method}").wait_for(timeout=30_000)


def test_two_sessions_share_one_queue_and_get_their_own_results(server, lab, browser):
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec
    from unlearn_core.store import Store

    url, home = server
    contexts = {m: browser.new_context(viewport={"width": 1400, "height": 1000}) for m in JOBS}
    try:
        pages = {m: context.new_page() for m, context in contexts.items()}
        for method, page in pages.items():
            _queue(page, url, method)
        saw_other_session = False
        finished: dict[str, str] = {}
        deadline = time.monotonic() + 240
        while len(finished) < len(pages) and time.monotonic() < deadline:
            for method, page in pages.items():
                body = page.inner_text("body")
                saw_other_session |= "(another session)" in body
                if f"{method} · forget class 3: finished in" in body:
                    finished[method] = body
            time.sleep(1)
        for method, page in pages.items():
            assert page.locator("[data-testid='stException']").count() == 0, method
    finally:
        for context in contexts.values():
            context.close()

    assert set(finished) == set(JOBS), "a session's job did not finish in time"
    assert saw_other_session  # the queue is shared: one session saw the other's job waiting or running
    for method, body in finished.items():
        other = next(m for m in JOBS if m != method)
        assert f"{other} · forget class 3: finished" not in body  # a session lists only its own finished jobs

    stored = {r["method"]: r for r in Store(home).list_runs()}
    assert set(stored) == set(JOBS) and all(r["status"] == "ok" for r in stored.values())
    for method, row in stored.items():
        expected = lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), method, {"epochs": EPOCHS[method]},
                           store_run=False)
        got = Store(home).get_run(row["id"])
        assert got["metrics"]["forget_acc"] == expected["metrics"]["forget_acc"], method
        assert got["metrics"]["test_acc"] == expected["metrics"]["test_acc"], method
