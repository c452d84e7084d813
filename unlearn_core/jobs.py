"""A background job runner: one worker thread per device, first in first out.

The dashboard shares one runner between all browser sessions (via `st.cache_resource`), so two sessions
queue on the same device instead of competing for it. A job is a callable `fn(progress, stop)`, where
`progress(fraction, message)` records how far it got and `stop` is a `threading.Event` set by `cancel`
(handed to `Lab` as its `stop` argument). Exceptions become one-line messages: a page never shows a traceback.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.progress import Progress

log = logging.getLogger(__name__)

JobFn = Callable[[Progress, threading.Event], Any]
JOB_STATUSES = ("queued", "running", "ok", "failed", "cancelled", "interrupted")
FINISHED = ("ok", "failed", "cancelled", "interrupted")  # interrupted: the process stopped while it was active
INTERRUPTED_REASON = "the server stopped before this job finished (it was restarted); queue it again"


@dataclass
class Job:
    """One unit of background work and what is known about it so far."""

    id: str
    kind: str  # e.g. "train", "unlearn", "demo": pages filter the queue by it
    title: str
    device: str
    owner: str | None = None  # the browser session that submitted it, if any
    status: str = "queued"
    progress: float = 0.0
    message: str = "waiting in the queue"
    result: Any = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    fn: JobFn | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


class JobFailed(RuntimeError):
    """Raised by a job whose work ended in a known, explained failure (shown verbatim, no traceback logged)."""


def error_message(exc: BaseException) -> str:
    """A short, readable reason: user errors and explained failures verbatim, anything else with its type name."""
    if isinstance(exc, UserInputError | JobFailed):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobRunner:
    """FIFO queues with one worker thread per device; thread-safe; jobs are kept in memory for the process.

    With a `journal` file, every job's state changes (not its progress) are written there, so a new process
    (a server restart) knows the jobs of the last one: those still queued or running when it stopped come back
    as "interrupted", with their owner, instead of vanishing; their ids are never reused."""

    def __init__(self, max_kept: int = 200, journal: Path | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, queue.Queue[str | None]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._lock = threading.RLock()
        self._max_kept = max_kept
        self._journal = journal
        last = self._recover(journal) if journal is not None else 0
        self._ids = itertools.count(last + 1)

    def _recover(self, journal: Path) -> int:
        """Loads the journal's active jobs as interrupted; returns the largest job number it names."""
        try:
            entries = json.loads(journal.read_text())
        except (OSError, ValueError):
            return 0
        if not isinstance(entries, list):
            return 0
        last = 0
        for entry in entries:
            if not isinstance(entry, dict) or not str(entry.get("id", "")).startswith("job-"):
                continue
            number = str(entry["id"]).removeprefix("job-")
            last = max(last, int(number)) if number.isdigit() else last
            if entry.get("status") in ("queued", "running"):
                self._jobs[entry["id"]] = Job(
                    str(entry["id"]), str(entry.get("kind", "")), str(entry.get("title", "")),
                    str(entry.get("device", "")), entry.get("owner"), status="interrupted",
                    progress=float(entry.get("progress") or 0.0), message=INTERRUPTED_REASON,
                    error=INTERRUPTED_REASON, created=float(entry.get("created") or 0.0),
                    started=entry.get("started"), finished=time.time())
        self._write_journal()
        return last

    def _write_journal(self) -> None:
        """Writes the journal (a failure costs the next restart its memory of these jobs, never a job)."""
        if self._journal is None:
            return
        from unlearn_core.models.checkpoint import atomic_write_json

        with self._lock:
            entries = [{"id": j.id, "kind": j.kind, "title": j.title, "device": j.device, "owner": j.owner,
                        "status": j.status, "progress": j.progress, "error": j.error, "created": j.created,
                        "started": j.started, "finished": j.finished} for j in self._jobs.values()]
        try:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self._journal, entries)
        except OSError as exc:
            log.warning("job journal not written: %s", exc)

    def submit(self, kind: str, fn: JobFn, *, title: str = "", device: str = "default",
               owner: str | None = None) -> str:
        """Queues `fn` on `device`'s worker and returns the job id."""
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            self._jobs[job_id] = Job(job_id, kind, title or kind, device, owner, fn=fn)
            self._forget_old()
            self._queue(device).put(job_id)
        self._write_journal()
        return job_id

    def _queue(self, device: str) -> queue.Queue[str | None]:
        if device not in self._queues:
            self._queues[device] = queue.Queue()
            worker = threading.Thread(target=self._work, args=(device,), name=f"unlearn-jobs-{device}", daemon=True)
            self._workers[device] = worker
            worker.start()
        return self._queues[device]

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.done]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(self._jobs) - self._max_kept)]:
            del self._jobs[job.id]

    def _work(self, device: str) -> None:
        q = self._queues[device]
        while True:
            job_id = q.get()
            if job_id is None:
                return
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.status != "queued":
                    continue  # cancelled while waiting
                job.status, job.started, job.message = "running", time.time(), "starting"
            self._write_journal()
            self._execute(job)
            self._write_journal()

    def _execute(self, job: Job) -> None:
        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.progress = max(0.0, min(1.0, float(fraction)))
                job.message = message

        try:
            result = job.fn(progress, job.stop)
        except BaseException as exc:  # a failing job must never take the worker down
            if not job.stop.is_set() and not isinstance(exc, UserInputError | JobFailed):
                log.exception("job %s (%s) failed", job.id, job.title)
            with self._lock:
                job.status = "cancelled" if job.stop.is_set() else "failed"
                job.error = "cancelled by the user" if job.stop.is_set() else error_message(exc)
                job.message = job.error
                job.finished = time.time()
                job.fn = None
            return
        with self._lock:
            job.result = result
            job.status = "cancelled" if job.stop.is_set() else "ok"
            if job.stop.is_set():
                job.error = "cancelled by the user"
            job.progress = 1.0 if job.status == "ok" else job.progress
            job.message = "done" if job.status == "ok" else "cancelled by the user"
            job.finished = time.time()
            job.fn = None

    def cancel(self, job_id: str) -> bool:
        """Cancels a queued job at once, or asks a running one to stop; False if it had already finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.done:
                return False
            job.stop.set()
            if job.status == "queued":
                job.status, job.error, job.message = "cancelled", "cancelled by the user", "cancelled before it started"
                job.finished = time.time()
                job.fn = None
            else:
                job.message = "stopping..."
        self._write_journal()
        return True

    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job (safe to read while the worker updates the original)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else replace(job, fn=None)

    def jobs(self, kind: str | None = None, owner: str | None = None) -> list[Job]:
        """Snapshots of the known jobs, oldest first."""
        with self._lock:
            return [replace(j, fn=None) for j in self._jobs.values()
                    if (kind is None or j.kind == kind) and (owner is None or j.owner == owner)]

    def active(self) -> list[Job]:
        return [j for j in self.jobs() if not j.done]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Blocks until the job finishes (for scripts and tests); returns its final snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None or job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                return job
            time.sleep(0.02)

    def shutdown(self) -> None:
        """Stops the workers after their current job (queued jobs are cancelled)."""
        with self._lock:
            for job in self._jobs.values():
                if job.status == "queued":
                    self.cancel(job.id)
            for q in self._queues.values():
                q.put(None)
