"""The workspace: a SQLite index of models and runs, with their artifacts on disk.

Layout under UNLEARN_HOME (default ~/.unlearning_lab):
    index.sqlite            models, runs and cached evaluations
    models/<key>/           model.safetensors, meta.json, artifacts.safetensors (codes, recorded updates)
    runs/<id>/              result.json, model.safetensors, diagnostics.json + diagnostics.safetensors

Every artifact folder is written under a temporary name and renamed into place before the index row that
points to it is committed, so a crash leaves earlier runs intact and never a half-written run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
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

from unlearn_core import UserInputError, validation
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
RUN_COLUMNS = ("id", "status", "created", "finished", "method", "dataset", "arch", "experiment_key", "forget_json",
               "params_json", "seed", "device", "seconds", "summary_json", "error", "pid")
MODEL_COLUMNS = ("key", "kind", "dataset", "arch", "spec_json", "meta_json", "created")
MODEL_KINDS = {"base": "base", "retrain": "retrain", "import": "imported"}  # by the prefix of a model key
INDEX_FILE = "index.sqlite"
ENTRY_FILE = "entry.json"  # a run folder's own copy of its index row: the index can be rebuilt from the folders

# "missing": the index lists the run but its folder (or a file in it) is gone
RUN_STATUSES = ("running", "ok", "failed", "cancelled", "interrupted", "missing")
STORED_STATUSES = ("ok", "failed", "cancelled")  # statuses whose run has a folder on disk


class WorkspaceError(UserInputError, OSError):
    """The workspace cannot be written (disk full, read-only folder): the user's environment, not a bug.

    An OSError for callers that handle file errors, and a UserInputError so that the CLI and the dashboard
    show it as a one-line message."""


def _workspace_error(root: Path, what: str, exc: BaseException) -> WorkspaceError:
    return WorkspaceError(f"cannot write {what} to the workspace {root}: {validation.plain_os_reason(exc)}")


def _as_os_error(exc: BaseException) -> OSError | None:
    """The OS error inside `exc`: itself, or the one safetensors' writer reports in its own error type
    ("... Os { code: 28, kind: StorageFull ... }"); None for anything else (a bug, not the environment)."""
    if isinstance(exc, OSError):
        return exc
    found = re.search(r"Os \{ code: (\d+)", str(exc))
    if found:
        number = int(found.group(1))
        return OSError(number, os.strerror(number))
    return None


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


class FolderWriter:
    """Collects the files of one artifact folder, written into a temporary folder by `Store.write_folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.folder / name, obj)

    def tensors(self, name: str, tensors: dict[str, torch.Tensor]) -> None:
        save_tensors(self.folder / name, tensors)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Thread-safe access to one workspace; several processes may share it (SQLite locking).

    `notices` holds one line per repair made when the workspace was opened (an index rebuilt from the run
    folders, runs added back to it); the CLI prints them and the dashboard shows them."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root else workspace_root()
        self.notices: list[str] = []
        try:
            for sub in ("models", "runs"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot use workspace {self.root}: {validation.plain_os_reason(exc)}") from None
        self._lock = threading.RLock()
        with self._open_lock():
            self._db = self._open_index()
            self._restore_swapped_folders()
            self._add_back_unlisted()
        self.recover_interrupted()

    def close(self) -> None:
        """Closes the index (checkpointing its write-ahead log into the file)."""
        with self._lock:
            self._db.close()

    # ---- opening, repairing and rebuilding the index ---------------------------------------------------
    @contextmanager
    def _open_lock(self) -> Iterator[None]:
        """Serialises the open-and-repair step between processes sharing this workspace."""
        try:
            fh = (self.root / ".open.lock").open("a")
        except OSError as exc:
            raise WorkspaceError(f"cannot use workspace {self.root}: {validation.plain_os_reason(exc)}") from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / INDEX_FILE, timeout=30, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        found = db.execute("PRAGMA quick_check").fetchone()[0]
        if found != "ok":
            db.close()
            raise sqlite3.DatabaseError(found)
        for table, columns in (("runs", RUN_COLUMNS), ("models", MODEL_COLUMNS)):
            have = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            if tuple(have) != columns:
                db.close()
                raise sqlite3.DatabaseError(f"table {table} has columns {have}")
        db.commit()
        return db

    def _open_index(self) -> sqlite3.Connection:
        """The index, rebuilt from the run and model folders when it is damaged (an unreadable file is moved
        aside, never deleted). An unwritable disk is reported as such: it is not damage to repair."""
        path = self.root / INDEX_FILE
        try:
            return self._connect()
        except sqlite3.OperationalError as exc:  # read-only, full, or no permission: the environment
            raise WorkspaceError(f"cannot use workspace {self.root}: {validation.plain_os_reason(exc)}") from None
        except sqlite3.DatabaseError as exc:  # not a database, malformed, truncated
            reason = " ".join(str(exc).split())
        aside = path.with_name(f"{INDEX_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}")
        try:
            os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            db = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise WorkspaceError(f"cannot use workspace {self.root}: its index {path} is damaged ({reason}) and "
                                 f"could not be replaced: {validation.plain_os_reason(exc)}") from None
        self.notices.append(f"the run index {path} was damaged ({reason}); it was moved to {aside.name} and "
                            "rebuilt from the run and model folders")
        return db

    def _restore_swapped_folders(self) -> None:
        """Puts back a folder a crash left renamed aside while it was being replaced (see `write_folder`)."""
        for sub in ("models", "runs"):
            for old in (self.root / sub).glob(".old-*"):
                final = self.root / sub / old.name.removeprefix(".old-").rsplit(".", 1)[0]
                if final.exists():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(old, final)

    def _add_back_unlisted(self) -> None:
        """Adds to the index every run and model folder it does not list (a new, emptied or rebuilt index),
        from the folder's own files; says what was recovered in `notices`."""
        with self._lock:
            known_runs = {r[0] for r in self._db.execute("SELECT id FROM runs")}
            known_models = {r[0] for r in self._db.execute("SELECT key FROM models")}
        runs, models, unreadable = [], [], []
        for folder in sorted((self.root / "runs").iterdir()):
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in known_runs:
                row = _run_row_from_folder(folder)
                (runs if row else unreadable).append(row or folder.name)
        for folder in sorted((self.root / "models").iterdir()):
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in known_models:
                row = _model_row_from_folder(folder)
                (models if row else unreadable).append(row or folder.name)
        if runs or models:
            with self._tx() as db:
                db.executemany(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(RUN_COLUMNS))})",
                               [tuple(r[c] for c in RUN_COLUMNS) for r in runs])
                db.executemany(f"INSERT OR REPLACE INTO models VALUES ({','.join('?' * len(MODEL_COLUMNS))})",
                               [tuple(m[c] for c in MODEL_COLUMNS) for m in models])
            self.notices.append(f"recovered {len(runs)} run{'s' if len(runs) != 1 else ''} and {len(models)} "
                                f"model{'s' if len(models) != 1 else ''} into the index from their folders")
        if unreadable:
            self.notices.append(f"skipped {len(unreadable)} folder{'s' if len(unreadable) != 1 else ''} without a "
                                f"readable record: {', '.join(map(str, unreadable[:5]))}")

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

    # ---- the one folder writer ---------------------------------------------------------------------------
    @contextmanager
    def write_folder(self, final: Path, what: str) -> Iterator[FolderWriter]:
        """Every artifact folder is written through this: files go into a temporary sibling folder, which
        replaces `final` by renames only once all of them are on disk, so a crash or a failed write leaves the
        earlier folder (or none), never half a folder. A failed write raises WorkspaceError with the OS reason
        in plain words (disk full, read-only)."""
        tmp = final.parent / f".tmp-{final.name}"
        old = final.parent / f".old-{final.name}.{uuid.uuid4().hex[:6]}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            yield FolderWriter(tmp)
            _fsync_folder(tmp)
            if final.exists():
                os.replace(final, old)  # a crash from here on is undone by _restore_swapped_folders
            os.replace(tmp, final)
            _fsync_folder(final.parent)
        except Exception as exc:
            if old.exists() and not final.exists():
                os.replace(old, final)
            cause = _as_os_error(exc)
            if cause is None:
                raise
            raise _workspace_error(self.root, what, cause) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and final.exists():
                shutil.rmtree(old, ignore_errors=True)

    # ---- models -------------------------------------------------------------------------------------
    def model_dir(self, key: str) -> Path:
        return self.root / "models" / validation.storage_key(key, "model key")

    def has_model(self, key: str) -> bool:
        folder = self.model_dir(key)  # refuses a key that is not one folder name before anything is read
        with self._lock:
            row = self._db.execute("SELECT 1 FROM models WHERE key=?", (key,)).fetchone()
        return row is not None and (folder / "model.safetensors").is_file()

    def save_model(self, key: str, kind: str, state: dict[str, torch.Tensor], meta: dict,
                   tensors: dict[str, torch.Tensor] | None = None) -> None:
        with self.write_folder(self.model_dir(key), f"model {key}") as folder:
            folder.tensors("model.safetensors", state)
            if tensors:
                folder.tensors("artifacts.safetensors", tensors)
            folder.json("meta.json", meta)
        row = _model_row(key, kind, meta, time.time())
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO models VALUES ({','.join('?' * len(MODEL_COLUMNS))})",
                       tuple(row[c] for c in MODEL_COLUMNS))

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

    def delete_eval(self, key: str) -> None:
        """Forgets a cached evaluation (e.g. a retrain band, so that it is assembled again)."""
        with self._tx() as db:
            db.execute("DELETE FROM evals WHERE key=?", (key,))

    # ---- runs ---------------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / validation.storage_key(run_id, "run id")

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
        """Writes the run's folder atomically (with its own index row, `entry.json`), then marks it finished
        with `record['status']`. When the folder cannot be written the run is marked failed with the reason
        (disk full, read-only) and WorkspaceError is raised."""
        with self._lock:
            started = self._db.execute("SELECT created, pid FROM runs WHERE id=?", (run_id,)).fetchone()
        row = _run_row(run_id, record, created=started["created"] if started else time.time(), finished=time.time(),
                       pid=started["pid"] if started else os.getpid())
        try:
            with self.write_folder(self.run_dir(run_id), f"run {run_id}") as folder:
                if state is not None:
                    folder.tensors("model.safetensors", state)
                if diagnostics:
                    tensors: dict[str, torch.Tensor] = {}
                    packed = pack_tree(diagnostics, tensors)
                    if tensors:
                        folder.tensors("diagnostics.safetensors", tensors)
                    folder.json("diagnostics.json", packed)
                folder.json("result.json", record)
                folder.json(ENTRY_FILE, row)
        except WorkspaceError as exc:
            self.mark_failed(run_id, str(exc))
            raise
        except Exception as exc:  # a bug in what was to be stored: the run still ends as failed, with why
            self.mark_failed(run_id, f"the run could not be stored: {exc!r}")
            raise
        with self._tx() as db:  # insert, not update: the row may be gone if the index was rebuilt meanwhile
            db.execute(f"INSERT OR REPLACE INTO runs VALUES ({','.join('?' * len(RUN_COLUMNS))})",
                       tuple(row[c] for c in RUN_COLUMNS))

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

    def missing_files(self, run_id: str, status: str, summary_json: str | None) -> str | None:
        """None when a stored run's folder holds its files, else which are gone (deleted or moved). Only
        `finish_run` writes a summary, so a run without one never had a folder (interrupted, failed to store)."""
        if status not in STORED_STATUSES or summary_json is None:
            return None
        folder = self.run_dir(run_id)
        if not folder.is_dir():
            return f"its folder {folder} is gone (deleted or moved); only its index entry is left"
        if not (folder / "result.json").is_file():
            return f"its record {folder / 'result.json'} is gone; only its index entry is left"
        return None

    def list_runs(self, status: str | None = None, limit: int = 1000) -> list[dict]:
        """Index rows, newest first; a finished run whose files are gone is listed as 'missing' with why."""
        query = "SELECT * FROM runs"
        args: tuple = ()
        if status and status != "missing":
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created DESC LIMIT ?", (*args, limit)).fetchall()
        out = []
        for r in rows:
            item = dict(r)
            gone = self.missing_files(item["id"], item["status"], item["summary_json"])
            item["forget"] = json.loads(item.pop("forget_json") or "{}")
            item["params"] = json.loads(item.pop("params_json") or "{}")
            item["summary"] = json.loads(item.pop("summary_json") or "{}")
            if gone:
                item.update(status="missing", error=gone)
            if not status or item["status"] == status:
                out.append(item)
        return out

    def get_run(self, run_id: str) -> dict:
        """The full stored record of a finished run (result.json); for a run without one (still running,
        interrupted, failed to store, files gone) the index's status and reason."""
        path = self.run_dir(run_id) / "result.json"
        if path.is_file():
            return json.loads(path.read_text())
        with self._lock:
            row = self._db.execute("SELECT status, error, summary_json FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise UserInputError(f"no run with id {run_id!r}")
        gone = self.missing_files(run_id, row["status"], row["summary_json"])
        return {"run_id": run_id, "status": "missing" if gone else row["status"], "error": gone or row["error"]}

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


# ---- index rows, and rebuilding them from folders ---------------------------------------------------------
def _run_row(run_id: str, record: dict, created: float, finished: float | None, pid: int | None) -> dict:
    experiment = record.get("experiment") or {}
    summary = {k: record.get(k) for k in ("metrics", "notes", "error")}
    if record.get("retrain_seed") is not None:  # a retrain band's model (studies/band.py), not a method's run
        summary["retrain_seed"] = record["retrain_seed"]
    if record.get("shadow_pair") is not None:  # a U-LiRA shadow pair (studies/ulira.py), not a method's run
        summary["shadow_pair"] = record["shadow_pair"]
    return {"id": run_id, "status": record["status"], "created": created, "finished": finished,
            "method": record.get("method"), "dataset": experiment.get("dataset"), "arch": experiment.get("arch"),
            "experiment_key": record.get("experiment_key"), "forget_json": json.dumps(record.get("forget", {})),
            "params_json": json.dumps(record.get("params", {})), "seed": record.get("seed"),
            "device": record.get("device"), "seconds": record.get("seconds"),
            "summary_json": json.dumps(summary, default=str), "error": record.get("error"), "pid": pid}


def _model_row(key: str, kind: str, meta: dict, created: float) -> dict:
    return {"key": key, "kind": kind, "dataset": meta.get("dataset"), "arch": meta.get("arch"),
            "spec_json": json.dumps(meta.get("spec", {})), "meta_json": json.dumps(meta, default=str),
            "created": created}


def _timestamp(text: Any, fallback: float) -> float:
    try:
        return time.mktime(time.strptime(str(text), "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return fallback


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_row_from_folder(folder: Path) -> dict | None:
    """The index row of a run folder: its entry.json, or (folders written before there was one) derived from
    result.json; None when neither is readable."""
    entry = _read_json(folder / ENTRY_FILE)
    if isinstance(entry, dict) and set(RUN_COLUMNS) <= set(entry) and entry["id"] == folder.name:
        return entry
    record = _read_json(folder / "result.json")
    if not isinstance(record, dict) or "status" not in record or "method" not in record:
        return None
    finished = (folder / "result.json").stat().st_mtime
    return _run_row(folder.name, record, _timestamp(record.get("created"), finished), finished, None)


def _model_row_from_folder(folder: Path) -> dict | None:
    meta = _read_json(folder / "meta.json")
    if not isinstance(meta, dict) or not (folder / "model.safetensors").is_file():
        return None
    kind = meta.get("kind") or MODEL_KINDS.get(folder.name.split("-", 1)[0], "base")
    return _model_row(folder.name, kind, meta, _timestamp(meta.get("created"), (folder / "meta.json").stat().st_mtime))
