"""Sweeps on real executors: the same numbers on every executor, resume after SIGKILL, cancel, bad input.

The six cells are tiny (digits CNN trained one epoch, one-epoch baselines) and include two band cells (retrains
with their own training seed), so the band's path is checked on every executor too. One workspace is prepared
once (base models, oracles) and shared; the reference numbers come from plain `Lab.run` calls on a workspace
of their own; one Ray instance serves the module (tests/sweeps/conftest.py), its test last, so no
other test competes with Ray's background processes for the cores."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.store import Store
from unlearn_core.studies.band import band_from_runs
from unlearn_core.studies.executors import NODE_CACHE_ROOT
from unlearn_core.studies.sweep import MethodGrid, SweepSpec, band_model_key, prepare, run_sweep

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=1)
FORGET = ForgetSpec(classes=(3,))
SIX_CELLS = SweepSpec(EXPERIMENT, (FORGET,), (MethodGrid.of("finetune", epochs=[1]),
                                              MethodGrid.of("gradient_ascent", epochs=[1])), seeds=(0, 1), band=1)


def without_timing(value):
    """Metrics minus wall-clock times, which are the only values allowed to differ between executors."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """Each cell's metrics from plain `Lab.run` calls one after another, and each seed's band from those runs,
    on a workspace of its own (so the sweeps below train their band retrains themselves)."""
    lab = Lab(Store(tmp_path_factory.mktemp("sweep_reference")), device="cpu")
    cells = SIX_CELLS.cells()
    assert len(cells) == 6 and sum(c.is_band for c in cells) == 2
    records = {c.key: lab.run(c.experiment, c.forget, c.method, dict(c.params), seed=c.seed, store_run=False,
                              retrain_seed=c.retrain_seed) for c in cells}
    bands = {c.seed: without_timing(band_from_runs([records[c.key]])["bands"]) for c in cells if c.is_band}
    return {"metrics": {key: without_timing(r["metrics"]) for key, r in records.items()}, "bands": bands}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Lab:
    """A workspace with the base models, oracles and reference metrics of SIX_CELLS."""
    lab = Lab(Store(tmp_path_factory.mktemp("sweep_ws")), device="cpu")
    prepare(lab, SIX_CELLS.cells())
    return lab


def stored_metrics(lab: Lab, spec: SweepSpec) -> dict:
    return {c.key: without_timing(lab.store.get_run(c.run_id)["metrics"]) for c in spec.cells()}


def stored_bands(lab: Lab, spec: SweepSpec) -> dict:
    out = {}
    for cell in spec.cells():
        if cell.is_band:
            band = lab.cached_band(lab.store.get_run(cell.run_id)["retrain_key"], cell.seed)
            out[cell.seed] = without_timing(band["bands"])
    return out


def band_keys(lab: Lab, spec: SweepSpec) -> list[str]:
    """The store keys of the bands the spec's band cells assemble."""
    return [lab.band_key(band_model_key(c).rsplit("-s", 1)[0], c.seed) for c in spec.cells() if c.is_band]


def fresh_cells(lab: Lab, spec: SweepSpec) -> None:
    for cell in spec.cells():
        lab.store.delete_run(cell.run_id)
    for key in band_keys(lab, spec):
        lab.store.delete_eval(key)


@pytest.mark.parametrize("executor, workers", [("sequential", 1), ("local", 1), ("local", 2)])
def test_same_metrics_on_every_local_executor(prepared, reference, executor, workers):
    lab = prepared
    fresh_cells(lab, SIX_CELLS)
    result = run_sweep(SIX_CELLS, executor=executor, workers=workers, lab=lab, device="cpu")
    assert result.status == "finished"
    assert [c.status for c in result.cells] == ["ok"] * 6
    assert result.executor["name"] == executor
    assert stored_metrics(lab, SIX_CELLS) == reference["metrics"]
    assert stored_bands(lab, SIX_CELLS) == reference["bands"]
    sweep = next(s for s in lab.store.list_sweeps() if s["key"] == result.key)
    assert SweepSpec.from_dict(sweep["spec"]).key == SIX_CELLS.key and sweep["meta"]["executor"]["name"] == executor
    # run again: every cell is already finished, nothing is redone
    again = run_sweep(SIX_CELLS, executor="sequential", lab=lab)
    assert {c.status for c in again.cells} == {"done before"}


def test_cancel_stops_queued_cells(prepared):
    lab = prepared
    fresh_cells(lab, SIX_CELLS)
    stop = threading.Event()

    def stop_after_first_cell(fraction: float, message: str) -> None:
        if "1/6 cells" in message:
            stop.set()

    result = run_sweep(SIX_CELLS, executor="sequential", lab=lab, progress=stop_after_first_cell, stop=stop)
    assert result.status == "cancelled"
    assert [c.status for c in result.cells] == ["ok"] + ["cancelled"] * 5
    statuses = lab.store.run_statuses([c.run_id for c in result.cells])
    assert list(statuses.values()) == ["ok"]  # the queued cells never started: no run stored for them
    assert [lab.store.get_eval(key) for key in band_keys(lab, SIX_CELLS)] == [None, None]  # and no band


def _sweep_command(home: Path, executor: str, *extra: str) -> tuple[list[str], dict]:
    env = {**os.environ, "UNLEARN_HOME": str(home), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "unlearn_core.cli", "sweep", "--dataset", "digits", "--epochs", "1",
               "--forget-classes", "3", "--method", "finetune", "--grid", "epochs=1,2,3", "--method",
               "gradient_ascent", "--grid", "epochs=1,2,3", "--seeds", "0", "--executor", executor, "--workers", "1",
               "--device", "cpu", *extra]
    return command, env


def test_sigkilled_sweep_resumes_without_redoing_finished_cells(tmp_path):
    home = tmp_path / "ws"
    command, env = _sweep_command(home, "local")
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    run_ids = [c.run_id for c in SweepSpec(EXPERIMENT, (FORGET,), (
        MethodGrid.of("finetune", epochs=[1, 2, 3]), MethodGrid.of("gradient_ascent", epochs=[1, 2, 3]))).cells()]
    deadline = time.monotonic() + 240
    finished: dict[str, float] = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if (home / "index.sqlite").exists():
                rows = [r for r in Store(home).list_runs() if r["status"] == "ok"]
                if rows:
                    finished = {r["id"]: r["finished"] for r in rows}
                    break
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its pool workers and the fork server, mid-sweep
        proc.wait()
    assert finished, "no cell finished before the deadline"
    assert len(finished) < len(run_ids), "the sweep finished before it could be killed"

    command, env = _sweep_command(home, "sequential", "--json")  # resuming works the same on any executor
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    payload = json.loads(out.stdout)
    statuses = {c["run_id"]: c["status"] for c in payload["cells"]}
    assert all(statuses[i] == "done before" for i in finished)
    store = Store(home)
    rows = store.list_runs()
    assert sorted(r["id"] for r in rows) == sorted(run_ids)  # each cell stored exactly once
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["id"]: r["finished"] for r in rows if r["id"] in finished} == finished  # not redone


@pytest.mark.parametrize("args, message", [
    (["--method", "slug", "--grid", "search_steps="], "is empty"),
    (["--method", "slug", "--grid", "nosuch=1,2"], "has no parameter 'nosuch'"),
    (["--method", "slug", "--grid", "forget_target=0.5,2"], "forget_target must be <= 1"),
    (["--method", "slug", "--executor", "ray", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
    (["--grid", "search_steps=5"], "before any --method"),
    (["--method", "slug", "--seeds", "1,1"], "seeds repeat"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_stored(tmp_path, monkeypatch, capsys, args, message):
    from unlearn_core.cli import main

    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "ws"))
    code = main(["sweep", "--epochs", "2", "--forget-classes", "3", "--device", "cpu", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err
    if (tmp_path / "ws").exists():
        store = Store(tmp_path / "ws")
        assert store.list_runs() == [] and store.list_models() == [] and store.list_sweeps() == []


def test_same_metrics_on_a_real_local_ray_instance(tmp_path, reference, ray_instance):
    lab = Lab(Store(tmp_path / "ws"), device="cpu")  # nothing trained yet: the workers train the band retrains
    result = run_sweep(SIX_CELLS, executor="ray", workers=2, lab=lab, device="cpu")
    assert [c.status for c in result.cells] == ["ok"] * 6
    assert result.executor["name"] == "ray" and result.executor["address"] == "local instance"
    assert result.executor["nodes"] == 1 and result.executor["workers"] == 2
    # the workers ran in their node cache; the driver stored every returned run in the workspace, once, and the
    # band retrains the workers trained
    assert stored_metrics(lab, SIX_CELLS) == reference["metrics"]
    assert stored_bands(lab, SIX_CELLS) == reference["bands"]
    rows = [lab.store.run_row(c.run_id) for c in SIX_CELLS.cells()]
    assert all(r["status"] == "ok" for r in rows)
    assert lab.store.load_run_state(SIX_CELLS.cells()[0].run_id) is not None  # the weights came back too
    assert all(lab.store.has_model(band_model_key(c)) for c in SIX_CELLS.cells() if c.is_band)
    # this sweep's node cache is gone, though the Ray instance lives on for the next sweep
    digest = hashlib.sha256(str(lab.store.root).encode()).hexdigest()[:12]
    assert list((Path(tempfile.gettempdir()) / NODE_CACHE_ROOT).glob(f"{digest}-*")) == []
    assert ray_instance.is_initialized()
