"""Starting the app for the browser tests (its own module: several test folders have a `conftest`, so tests
cannot import from "conftest" by name)."""

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
