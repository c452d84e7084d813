"""A background job runner: one worker thread per device, first in first out.

The dashboard shares one runner between all browser sessions (via `st.cache_resource`), so two sessions
queue on the same device instead of competing for it. A job is a callable `fn(progress, stop)`, where
`progress(fraction, message)` records how far it got and `stop` is a `threading.Event` set by `cancel`
(handed to `Lab` as its `stop` argument). Exceptions become one-line messages: a page never shows a traceback.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.progress import Progress

log = logging.getLogger(__name__)

JobFn = Callable[[Progress, threading.Event], Any]
JOB_STATUSES = ("queued", "running", "ok", "failed", "cancelled")
FINISHED = ("ok", "failed", "cancelled")


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
    """FIFO queues with one worker thread per device; thread-safe; jobs are kept in memory for the process."""

    def __init__(self, max_kept: int = 200) -> None:
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, queue.Queue[str | None]] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._max_kept = max_kept

    def submit(self, kind: str, fn: JobFn, *, title: str = "", device: str = "default",
               owner: str | None = None) -> str:
        """Queues `fn` on `device`'s worker and returns the job id."""
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            self._jobs[job_id] = Job(job_id, kind, title or kind, device, owner, fn=fn)
            self._forget_old()
            self._queue(device).put(job_id)
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
            self._execute(job)

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
