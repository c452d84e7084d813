"""Run store: atomic artifacts, reload, interrupted-run recovery, diagnostics packing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import torch

from unlearn_core.store import Store, pack_tree, unpack_tree


def _record(method="finetune"):
    return {"method": method, "experiment": {"dataset": "digits", "arch": "cnn"}, "forget": {"classes": [3]},
            "params": {"lr": 0.1}, "seed": 0, "device": "cpu"}


def test_finished_run_reloads_with_weights_and_diagnostics(fresh_store: Store):
    run_id = fresh_store.start_run(_record())
    diagnostics = {"spectra": {"c1.weight": {"singular_values": torch.arange(6.0).view(2, 3), "rank": 2}},
                   "history": [{"epoch": 1, "forget_acc": 0.5}], "mask": np.ones((2, 2))}
    record = {**_record(), "run_id": run_id, "status": "ok", "seconds": 1.5, "metrics": {"forget_acc": 0.0}}
    fresh_store.finish_run(run_id, record, {"w": torch.ones(3)}, diagnostics)
    again = Store(fresh_store.root)
    assert again.get_run(run_id)["metrics"] == {"forget_acc": 0.0}
    loaded = again.load_run_diagnostics(run_id)
    assert torch.equal(loaded["spectra"]["c1.weight"]["singular_values"], torch.arange(6.0).view(2, 3))
    assert loaded["history"] == [{"epoch": 1, "forget_acc": 0.5}]
    assert torch.equal(again.load_run_state(run_id)["w"], torch.ones(3))
    assert [r["status"] for r in again.list_runs()] == ["ok"]


def test_run_left_running_by_a_dead_process_is_marked_interrupted(fresh_store: Store):
    done = fresh_store.start_run(_record())
    fresh_store.finish_run(done, {**_record(), "status": "ok", "metrics": {}})
    code = (
        "import sys; from unlearn_core.store import Store; "
        f"s = Store(r'{fresh_store.root}'); s.start_run({_record('slug')!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    after = Store(fresh_store.root)
    statuses = {r["method"]: r["status"] for r in after.list_runs()}
    assert statuses == {"finetune": "ok", "slug": "interrupted"}
    assert after.get_run(done)["status"] == "ok"


def test_failed_artifact_write_leaves_no_half_run_and_marks_it_failed(fresh_store: Store, monkeypatch):
    run_id = fresh_store.start_run(_record())
    from unlearn_core import store as store_module

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "atomic_write_json", broken)
    with pytest.raises(OSError):
        fresh_store.finish_run(run_id, {**_record(), "status": "ok"}, {"w": torch.ones(2)})
    assert not fresh_store.run_dir(run_id).exists()
    assert not list((fresh_store.root / "runs").glob(".tmp-*"))
    with sqlite3.connect(fresh_store.root / "index.sqlite") as db:
        status, error = db.execute("SELECT status, error FROM runs WHERE id=?", (run_id,)).fetchone()
    assert status == "failed" and "the disk is full (No space left on device)" in error  # the reason, plainly


def test_pack_tree_roundtrip_and_rejects_objects():
    tensors: dict = {}
    tree = {"a": [torch.ones(2), {"b": np.zeros(3)}], "c": 1.5, "d": None}
    packed = pack_tree(tree, tensors)
    assert len(tensors) == 2
    back = unpack_tree(packed, tensors)
    assert torch.equal(back["a"][0], torch.ones(2)) and back["c"] == 1.5
    with pytest.raises(TypeError):
        pack_tree({"x": object()}, {})
