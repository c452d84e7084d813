"""The store recovers: a missing, empty, truncated or garbage index is rebuilt from the run folders, every earlier
run is listed again with its metrics unchanged and the user is told; an unwritable disk is reported in plain words
(never as a damaged index); a failed write marks the run failed with the OS reason; a deleted run folder is
listed as missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch
from relhelpers import run_cli

from unlearn_core import store as store_module
from unlearn_core.store import Store, WorkspaceError


def _record(method: str, status: str, forget_acc: float | None) -> dict:
    return {"method": method, "experiment": {"dataset": "digits", "arch": "cnn", "seed": 0},
            "experiment_key": "base-x", "forget": {"classes": [3]}, "params": {"lr": 0.01}, "seed": 0,
            "device": "cpu", "created": "2026-12-01 09:00:00", "status": status, "seconds": 1.25,
            "metrics": None if forget_acc is None else {"forget_acc": forget_acc, "test_acc": 0.97,
                                                        "per_class_acc": [0.9] * 10},
            "error": None if status == "ok" else f"{method} {status}", "notes": ["a note"]}


def _populated(root: Path) -> tuple[Store, list[str]]:
    """A workspace with three stored runs (ok with weights and diagnostics, failed, cancelled) and one model."""
    store = Store(root)
    ids = []
    for method, status, acc in (("finetune", "ok", 0.125), ("gradient_ascent", "failed", None),
                                ("slug", "cancelled", None)):
        run_id = store.start_run(_record(method, status, acc))
        state = {"w": torch.arange(4.0)} if status == "ok" else None
        diagnostics = {"spectrum": torch.ones(3), "steps": [1, 2]} if status == "ok" else None
        store.finish_run(run_id, {**_record(method, status, acc), "run_id": run_id}, state, diagnostics)
        ids.append(run_id)
    store.save_model("base-x", "base", {"w": torch.ones(2)},
                     {"kind": "base", "dataset": "digits", "arch": "cnn", "spec": {"seed": 0},
                      "created": "2026-12-01 08:59:00"})
    return store, ids


def _snapshot(store: Store, ids: list[str]) -> dict:
    return {"rows": [{k: r[k] for k in ("id", "status", "created", "method", "summary", "seconds", "error",
                                        "forget", "params")} for r in store.list_runs()],
            "records": [store.get_run(i) for i in ids], "models": [m["key"] for m in store.list_models()],
            "state": store.load_run_state(ids[0])["w"].tolist(),
            "diagnostics": store.load_run_diagnostics(ids[0])["steps"]}


def _damage(index: Path, how: str) -> None:
    if how == "zero-byte":
        index.write_bytes(b"")
    elif how == "truncated":
        data = index.read_bytes()
        index.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        index.write_bytes(os.urandom(8192))
    elif how == "missing":
        index.unlink()
    for extra in index.parent.glob(f"{index.name}-*"):  # the write-ahead log goes with it
        extra.unlink()


@pytest.mark.parametrize("how", ["zero-byte", "truncated", "garbage", "missing"])
def test_a_damaged_index_is_rebuilt_with_every_run_and_its_metrics(tmp_path: Path, how: str):
    store, ids = _populated(tmp_path)
    before = _snapshot(store, ids)
    store.close()
    _damage(tmp_path / "index.sqlite", how)

    again = Store(tmp_path)
    assert _snapshot(again, ids) == before  # same runs, same order, same metrics, weights and diagnostics
    assert any("recovered 3 runs and 1 model" in n for n in again.notices), again.notices
    damaged = list(tmp_path.glob("index.sqlite.damaged-*"))
    if how in ("truncated", "garbage"):  # the unreadable file is kept aside, never deleted
        assert len(damaged) == 1 and any("was damaged" in n for n in again.notices)
    else:
        assert damaged == []
    again.close()
    assert Store(tmp_path).notices == []  # repaired once; the next open finds nothing to do


def test_folders_written_before_entry_files_are_recovered_from_their_records(tmp_path: Path):
    store, ids = _populated(tmp_path)
    before = _snapshot(store, ids)
    store.close()
    for entry in tmp_path.glob("runs/*/entry.json"):
        entry.unlink()
    _damage(tmp_path / "index.sqlite", "zero-byte")
    again = Store(tmp_path)
    after = _snapshot(again, ids)
    assert after["records"] == before["records"] and after["state"] == before["state"]
    # their records hold the start time to the second, so only runs started in different seconds keep their order
    assert sorted((r["id"], r["status"], json.dumps(r["summary"], sort_keys=True)) for r in after["rows"]) == \
        sorted((r["id"], r["status"], json.dumps(r["summary"], sort_keys=True)) for r in before["rows"])


def test_cli_says_what_it_recovered_and_reports_the_runs_again(home: Path, tmp_path: Path):
    first = run_cli("run", "--method", "finetune", "--set", "epochs=1", "--forget-classes", "3", "--json")
    assert first.code == 0, first.stderr
    record = json.loads(first.stdout)
    stored_runs = [f for f in (home / "runs").iterdir() if f.is_dir()]  # the run, and its retrain band's runs
    (home / "index.sqlite").write_bytes(b"")
    for extra in home.glob("index.sqlite-*"):
        extra.unlink()
    report = run_cli("report", "--runs", record["run_id"], "--out", str(tmp_path / "r.html"), "--json")
    assert report.code == 0, report.stderr
    assert f"recovered {len(stored_runs)} run" in report.stderr
    stored = Store(home).get_run(record["run_id"])
    assert stored["metrics"] == json.loads(json.dumps(record["metrics"]))  # unchanged


@pytest.mark.parametrize("message, words", [("attempt to write a readonly database", "read-only"),
                                            ("database or disk is full", "the disk is full"),
                                            ("unable to open database file", "cannot be opened")])
def test_an_unwritable_index_is_reported_plainly_and_left_alone(tmp_path: Path, monkeypatch, message, words):
    store, _ = _populated(tmp_path)
    store.close()
    original = (tmp_path / "index.sqlite").read_bytes()

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(store_module.sqlite3, "connect", refuse)
    with pytest.raises(WorkspaceError) as caught:
        Store(tmp_path)
    assert words in str(caught.value) and "unusable" not in str(caught.value)
    assert "damaged" not in str(caught.value)
    assert (tmp_path / "index.sqlite").read_bytes() == original and not list(tmp_path.glob("*.damaged-*"))


class SafetensorError(Exception):
    """What safetensors' Rust writer raises for an OS error (not an OSError)."""


@pytest.mark.parametrize("code, words", [(28, "the disk is full (No space left on device)"),
                                         (30, "the file system is read-only")])
def test_a_failed_write_marks_the_run_failed_with_the_os_reason(tmp_path: Path, monkeypatch, code, words):
    store, ids = _populated(tmp_path)
    run_id = store.start_run(_record("ssd", "ok", 0.5))

    def os_error_inside(path, tensors):
        raise SafetensorError(f"Error while serializing: IoError(Os {{ code: {code}, kind: Other, message: \"x\" }})")

    monkeypatch.setattr(store_module, "save_tensors", os_error_inside)
    with pytest.raises(WorkspaceError, match=re.escape(words)):
        store.finish_run(run_id, {**_record("ssd", "ok", 0.5), "run_id": run_id}, {"w": torch.ones(1)})
    [row] = [r for r in store.list_runs() if r["id"] == run_id]
    assert row["status"] == "failed" and words in row["error"]
    assert not store.run_dir(run_id).exists() and not list((tmp_path / "runs").glob(".tmp-*"))
    assert store.get_run(ids[0])["metrics"]["forget_acc"] == 0.125  # earlier runs intact


def test_a_bug_while_writing_still_marks_the_run_failed(tmp_path: Path, monkeypatch):
    store = Store(tmp_path)
    run_id = store.start_run(_record("ssd", "ok", 0.5))
    with pytest.raises(TypeError):
        store.finish_run(run_id, {**_record("ssd", "ok", 0.5), "run_id": run_id}, diagnostics={"x": object()})
    [row] = store.list_runs()
    assert row["status"] == "failed" and "could not be stored" in row["error"]


def test_a_deleted_run_folder_is_listed_as_missing_with_the_reason(tmp_path: Path):
    store, ids = _populated(tmp_path)
    shutil.rmtree(store.run_dir(ids[0]))
    rows = {r["id"]: r for r in Store(tmp_path).list_runs()}
    assert rows[ids[0]]["status"] == "missing" and "is gone (deleted or moved)" in rows[ids[0]]["error"]
    assert rows[ids[1]]["status"] == "failed"
    assert Store(tmp_path).get_run(ids[0])["status"] == "missing"


def test_a_crash_while_replacing_a_folder_keeps_the_earlier_one(tmp_path: Path):
    store, ids = _populated(tmp_path)
    final = store.run_dir(ids[0])
    os.replace(final, final.parent / f".old-{final.name}.abc123")  # renamed aside, the new one never arrived
    again = Store(tmp_path)
    assert again.get_run(ids[0])["metrics"]["forget_acc"] == 0.125
    assert not list((tmp_path / "runs").glob(".old-*"))


def test_run_ids_and_model_keys_cannot_leave_the_workspace(tmp_path: Path):
    store, _ = _populated(tmp_path)
    for bad in ("../models/base-x", "/etc", "..", "a/b", ""):
        with pytest.raises(ValueError, match="run id"):
            store.get_run(bad)
        with pytest.raises(ValueError, match="model key"):
            store.has_model(bad)
