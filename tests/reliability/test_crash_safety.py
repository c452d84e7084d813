"""Crash safety: SIGKILL a real `unlearn run` in the middle of its method; the store stays consistent, the run is
marked interrupted on the next start, and every earlier run still loads."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _running_rows(home: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(f"file:{home / 'index.sqlite'}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT id, pid FROM runs WHERE status='running'").fetchall()


def test_sigkill_during_a_run_leaves_a_consistent_store(private_lab, home: Path, tmp_path: Path):
    earlier = [private_lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "finetune", {"epochs": 1}),
               private_lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "gradient_ascent", {"lr": 1.0})]
    assert [r["status"] for r in earlier] == ["ok", "failed"]

    log = (tmp_path / "killed.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "unlearn_core.cli", "run", "--method", "finetune", "--forget-classes", "3",
         "--set", "epochs=100", "--set", "batch_size=8", "--no-band"],
        cwd=ROOT, env={**os.environ, "UNLEARN_HOME": str(home), "UNLEARN_DEVICE": "cpu"}, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while not any(pid == proc.pid for _, pid in _running_rows(home)):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()[-2000:]
        time.sleep(0.2)
    time.sleep(1.0)  # well inside the method's 100 epochs
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log.close()
    [(killed_id, _)] = _running_rows(home)  # still 'running' on disk: nobody has looked yet

    restarted = Store(home)  # what the next CLI call or dashboard start does
    statuses = {r["id"]: r["status"] for r in restarted.list_runs()}
    assert statuses[killed_id] == "interrupted"
    assert "stopped before it finished" in restarted.get_run(killed_id)["error"]
    assert not restarted.run_dir(killed_id).exists()
    assert not list((home / "runs").glob(".tmp-*"))
    for record in earlier:
        assert statuses[record["run_id"]] == record["status"]
        assert restarted.get_run(record["run_id"]) == json.loads(json.dumps(record))  # as stored, tuples as lists
    ok_id = earlier[0]["run_id"]
    assert restarted.load_run_state(ok_id) is not None and restarted.load_run_diagnostics(ok_id) is not None
    with sqlite3.connect(home / "index.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    after = private_lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "finetune", {"epochs": 1})
    assert after["status"] == "ok"  # the workspace goes on working
    assert after["metrics"]["forget_acc"] == earlier[0]["metrics"]["forget_acc"]  # same seed, same numbers
