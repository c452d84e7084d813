"""The workspace: a SQLite index of models and runs, with their artifacts on disk.

Layout under UNLEARN_HOME (default ~/.unlearning_lab):
    index.sqlite            models, runs and cached evaluations
    models/<key>/           model.safetensors, meta.json, artifacts.safetensors (codes, recorded updates)
    runs/<id>/              result.json, model.safetensors, diagnostics.json + diagnostics.safetensors

Every artifact folder is written under a temporary name and renamed into place before the index row that
points to it is committed, so a crash leaves earlier runs intact and never a half-written run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from unlearn_core import UserInputError
from unlearn_core.models.checkpoint import atomic_write_json, save_tensors

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, dataset TEXT, arch TEXT, spec_json TEXT, meta_json TEXT,
    created REAL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, created REAL, finished REAL, method TEXT, dataset TEXT,
    arch TEXT, experiment_key TEXT, forget_json TEXT, params_json TEXT, seed INTEGER, device TEXT,
    seconds REAL, summary_json TEXT, error TEXT, pid INTEGER
);
CREATE TABLE IF NOT EXISTS evals (key TEXT PRIMARY KEY, metrics_json TEXT, created REAL);
CREATE TABLE IF NOT EXISTS sweeps (
    key TEXT PRIMARY KEY, title TEXT, status TEXT, spec_json TEXT, meta_json TEXT, created REAL, updated REAL
);
"""

RUN_STATUSES = ("running", "ok", "failed", "cancelled", "interrupted")


class WorkspaceError(UserInputError, OSError):
    """The workspace cannot be written (disk full, read-only folder): the user's environment, not a bug.

    An OSError for callers that handle file errors, and a UserInputError so that the CLI and the dashboard
    show it as a one-line message."""


def _workspace_error(root: Path, what: str, exc: BaseException) -> WorkspaceError:
    reason = getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__
    return WorkspaceError(f"cannot write {what} to the workspace {root}: {reason}")


def workspace_root() -> Path:
    return Path(os.environ.get("UNLEARN_HOME") or Path.home() / ".unlearning_lab").expanduser()


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pack_tree(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "d") -> Any:
    """Replaces tensors/arrays in a nested structure by references, collecting them for safetensors."""
    if isinstance(obj, torch.Tensor | np.ndarray):
        key = f"{prefix}.{len(tensors)}"
        tensors[key] = torch.as_tensor(obj).detach().cpu().clone()  # safetensors refuses shared memory
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {str(k): pack_tree(v, tensors, prefix) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [pack_tree(v, tensors, prefix) for v in obj]
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"diagnostics may hold tensors, arrays and JSON values, not {type(obj).__name__}")


def unpack_tree(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: unpack_tree(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack_tree(v, tensors) for v in obj]
    return obj


class Store:
    """Thread-safe access to one workspace; several processes may share it (SQLite locking)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root else workspace_root()
        try:
            for sub in ("models", "runs"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"cannot use workspace {self.root}: {exc.strerror or exc}") from None
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.root / "index.sqlite", timeout=30, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            with self._tx() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
            self.recover_interrupted()
        except (sqlite3.Error, WorkspaceError) as exc:
            raise WorkspaceError(f"cannot use workspace {self.root}: its index is unusable ({exc})") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
                self._db.commit()
            except sqlite3.OperationalError as exc:  # disk full, read-only file, locked for too long
                self._db.rollback()
                raise _workspace_error(self.root, "the run index", exc) from exc
            except BaseException:
                self._db.rollback()
                raise

    # ---- models -------------------------------------------------------------------------------------
    def model_dir(self, key: str) -> Path:
        return self.root / "models" / key

    def has_model(self, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM models WHERE key=?", (key,)).fetchone()
        return row is not None and (self.model_dir(key) / "model.safetensors").is_file()

    def save_model(self, key: str, kind: str, state: dict[str, torch.Tensor], meta: dict,
                   tensors: dict[str, torch.Tensor] | None = None) -> None:
        final = self.model_dir(key)
        tmp = self.root / "models" / f".tmp-{key}-{uuid.uuid4().hex[:6]}"
        try:
            tmp.mkdir(parents=True)
            save_tensors(tmp / "model.safetensors", state)
            if tensors:
                save_tensors(tmp / "artifacts.safetensors", tensors)
            atomic_write_json(tmp / "meta.json", meta)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _workspace_error(self.root, f"model {key}", exc) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?)",
                (key, kind, meta.get("dataset"), meta.get("arch"), json.dumps(meta.get("spec", {})),
                 json.dumps(meta, default=str), time.time()),
            )

    def load_model(self, key: str) -> tuple[dict[str, torch.Tensor], dict, dict[str, torch.Tensor]]:
        folder = self.model_dir(key)
        state = load_file(str(folder / "model.safetensors"))
        meta = json.loads((folder / "meta.json").read_text())
        art = folder / "artifacts.safetensors"
        return state, meta, (load_file(str(art)) if art.is_file() else {})

    def list_models(self, kind: str | None = None) -> list[dict]:
        query = "SELECT key, kind, dataset, arch, meta_json, created FROM models"
        args: tuple = ()
        if kind:
            query += " WHERE kind=?"
            args = (kind,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [{**dict(r), "meta": json.loads(r["meta_json"])} for r in rows]

    # ---- cached evaluations -------------------------------------------------------------------------
    def get_eval(self, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT metrics_json FROM evals WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_eval(self, key: str, metrics: dict) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO evals VALUES (?,?,?)", (key, json.dumps(metrics), time.time()))

    # ---- runs ---------------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def start_run(self, record: dict) -> str:
        run_id = record.get("run_id") or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, status, created, method, dataset, arch, experiment_key, forget_json, "
                "params_json, seed, device, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, "running", time.time(), record["method"], record["experiment"]["dataset"],
                 record["experiment"]["arch"], record.get("experiment_key"), json.dumps(record["forget"]),
                 json.dumps(record.get("params", {})), record.get("seed"), record.get("device"), os.getpid()),
            )
        return run_id

    def finish_run(self, run_id: str, record: dict, state: dict[str, torch.Tensor] | None = None,
                   diagnostics: dict | None = None) -> None:
        """Writes the run's folder atomically, then marks it finished with `record['status']`."""
        final = self.run_dir(run_id)
        tmp = self.root / "runs" / f".tmp-{run_id}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            if state is not None:
                save_tensors(tmp / "model.safetensors", state)
            if diagnostics:
                tensors: dict[str, torch.Tensor] = {}
                packed = pack_tree(diagnostics, tensors)
                if tensors:
                    save_tensors(tmp / "diagnostics.safetensors", tensors)
                atomic_write_json(tmp / "diagnostics.json", packed)
            atomic_write_json(tmp / "result.json", record)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _workspace_error(self.root, f"run {run_id}", exc) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        summary = {k: record.get(k) for k in ("metrics", "notes", "error")}
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished=?, seconds=?, summary_json=?, error=? WHERE id=?",
                (record["status"], time.time(), record.get("seconds"), json.dumps(summary, default=str),
                 record.get("error"), run_id),
            )

    def mark_failed(self, run_id: str, reason: str) -> None:
        """Best effort: records why a run could not be stored (the index may be on the same full disk)."""
        try:
            with self._tx() as db:
                db.execute("UPDATE runs SET status='failed', finished=?, error=? WHERE id=? AND status='running'",
                           (time.time(), reason, run_id))
        except (sqlite3.Error, WorkspaceError):
            pass  # left 'running'; the next start marks it interrupted once this process has gone

    def recover_interrupted(self) -> list[str]:
        """Marks runs left 'running' by a process that no longer exists as interrupted."""
        with self._lock:
            rows = self._db.execute("SELECT id, pid FROM runs WHERE status='running'").fetchall()
        lost = [r["id"] for r in rows if not _pid_alive(r["pid"])]
        if lost:
            with self._tx() as db:
                db.executemany(
                    "UPDATE runs SET status='interrupted', error=? WHERE id=?",
                    [("the process running it stopped before it finished", i) for i in lost],
                )
        for run_id in lost:
            shutil.rmtree(self.root / "runs" / f".tmp-{run_id}", ignore_errors=True)
        return lost

    def list_runs(self, status: str | None = None, limit: int = 1000) -> list[dict]:
        query = "SELECT * FROM runs"
        args: tuple = ()
        if status:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created DESC LIMIT ?", (*args, limit)).fetchall()
        out = []
        for r in rows:
            item = dict(r)
            item["forget"] = json.loads(item.pop("forget_json") or "{}")
            item["params"] = json.loads(item.pop("params_json") or "{}")
            item["summary"] = json.loads(item.pop("summary_json") or "{}")
            out.append(item)
        return out

    def get_run(self, run_id: str) -> dict:
        """The full stored record of a finished run (result.json)."""
        path = self.run_dir(run_id) / "result.json"
        if not path.is_file():
            with self._lock:
                row = self._db.execute("SELECT status, error FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise UserInputError(f"no run with id {run_id!r}")
            return {"run_id": run_id, "status": row["status"], "error": row["error"]}
        return json.loads(path.read_text())

    def load_run_diagnostics(self, run_id: str) -> dict:
        folder = self.run_dir(run_id)
        path = folder / "diagnostics.json"
        if not path.is_file():
            return {}
        tensors_path = folder / "diagnostics.safetensors"
        tensors = load_file(str(tensors_path)) if tensors_path.is_file() else {}
        return unpack_tree(json.loads(path.read_text()), tensors)

    def load_run_state(self, run_id: str) -> dict[str, torch.Tensor] | None:
        path = self.run_dir(run_id) / "model.safetensors"
        return load_file(str(path)) if path.is_file() else None

    def run_row(self, run_id: str) -> dict | None:
        """The index row of one run (status, pid, error, ...), or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return None if row is None else dict(row)

    def run_statuses(self, run_ids: list[str]) -> dict[str, str]:
        """{run id: status} of those of `run_ids` that are in the index (one query per 500 ids)."""
        out: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(f"SELECT id, status FROM runs WHERE id IN ({marks})", chunk):
                    out[row["id"]] = row["status"]
        return out

    # ---- sweeps (studies/sweep.py): the spec is stored with its cells' runs ---------------------------------
    def save_sweep(self, key: str, spec: dict, status: str, meta: dict) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sweeps VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET status=excluded.status, "
                "meta_json=excluded.meta_json, updated=excluded.updated",
                (key, spec.get("title", ""), status, json.dumps(spec), json.dumps(meta, default=str), now, now),
            )

    def list_sweeps(self) -> list[dict]:
        """Stored sweeps, most recently updated first: key, title, status, spec, meta, created, updated."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM sweeps ORDER BY updated DESC").fetchall()
        return [{**dict(r), "spec": json.loads(r["spec_json"]), "meta": json.loads(r["meta_json"] or "{}")}
                for r in rows]

    # ---- dashboard sessions (what a browser tab had chosen, so a reload or a restart restores it) ----------
    @staticmethod
    def _session_path_ok(session_id: str) -> bool:
        # the id arrives in a URL: only plain hex names ever become a file name
        return isinstance(session_id, str) and 8 <= len(session_id) <= 64 and all(
            c in "0123456789abcdef" for c in session_id)

    def save_session(self, session_id: str, state: dict) -> None:
        """Writes a dashboard session's choices (plain JSON) atomically to sessions/<id>.json."""
        if not self._session_path_ok(session_id):
            raise UserInputError(f"not a session id: {session_id!r}")
        folder = self.root / "sessions"
        folder.mkdir(exist_ok=True)
        atomic_write_json(folder / f"{session_id}.json", state)

    def load_session(self, session_id: str) -> dict | None:
        """A saved session's choices, or None (unknown, malformed id, or an unreadable file)."""
        if not self._session_path_ok(session_id):
            return None
        try:
            data = json.loads((self.root / "sessions" / f"{session_id}.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def delete_run(self, run_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)
