"""Browser-test fixtures: one app server on a workspace that already holds the demo's runs, shared by every
browser test of the session (starting Streamlit and loading torch costs several seconds each time)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).parent)]  # the e2ehelpers module
# what the populated workspace holds: the demo's scenario, plus a variant and a second scenario
POPULATED_METHODS = ("semu", "slug", "mnemonic", "partial_label_flip", "partial_gradient_ascent")
VARIANT = ("semu", {"tau": 0.99})

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start_server(home: Path, log: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` as the README starts it, on a free port (or `port`, to restart a server where an
    open tab will reconnect) with the given workspace."""
    port = port or free_port()
    env = {**os.environ, "UNLEARN_HOME": str(home)}
    with log.open("a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    pytest.fail(f"the app did not start: {log.read_text()[-2000:]}")

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a private, empty workspace (one per test module); yields its URL."""
    proc, url = start_server(tmp_path_factory.mktemp("e2e_home"), tmp_path_factory.mktemp("e2e_log") / "server.log")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def populated_home(lab, digits_base, tmp_path_factory) -> Path:
    """A private workspace with the session's trained models and the demo's runs (class 3 forgotten), one
    semu variant, and a second scenario (class 5)."""
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec, Lab
    from unlearn_core.store import Store

    home = tmp_path_factory.mktemp("e2e_populated")
    store = Store(home)
    for row in lab.store.list_models():
        if row["kind"] != "imported":
            state, meta, tensors = lab.store.load_model(row["key"])
            store.save_model(row["key"], row["kind"], state, meta, tensors)
    private = Lab(store, device="cpu")
    spec = ExperimentSpec()
    private.run(spec, ForgetSpec(classes=(5,)), "gradient_ascent", {})
    for method in POPULATED_METHODS:
        private.run(spec, ForgetSpec(classes=(3,)), method, {})
    private.run(spec, ForgetSpec(classes=(3,)), VARIANT[0], dict(VARIANT[1]))
    return home

@pytest.fixture(scope="session")
def app_server(populated_home, tmp_path_factory):
    proc, url = start_server(populated_home, tmp_path_factory.mktemp("e2e_log") / "server.log")
    yield url
    proc.terminate()
    proc.wait(timeout=20)

@pytest.fixture
def context(browser):
    """A fresh browser context (its own Streamlit session) per test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()
