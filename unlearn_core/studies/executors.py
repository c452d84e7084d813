"""Executors: where a sweep's cells run, behind one small interface.

    engine = make_executor("local", workers=2)     # "sequential" | "local" | "ray"
    engine.start()                                 # Ray: connects or starts a local instance; errors are one line
    handle = engine.submit(CellTask(cell, home, device))
    engine.progress()                              # [(cell key, fraction, message, worker)] streamed so far
    done = engine.wait([handle], timeout=0.2)      # handles that finished
    outcome = engine.collect(handle)               # CellOutcome: status, run id, error, worker
    engine.cancel()                                # asks running cells to stop (they are stored as cancelled)
    engine.close()

The sweep driver (`sweep.run_sweep`) keeps at most `engine.slots` cells in flight and the rest queued on its
side, so cancelling never has to reach into an engine's queue.

Every executor runs the same function, `execute_cell`, which calls `Lab.run` with the cell's content-addressed
run id (a U-LiRA shadow cell: `studies.ulira.run_shadow_pair`, which stores its phis as the run's diagnostics);
a worker process keeps its Lab between cells, so each base model is loaded once per worker.
- `sequential`: in the calling process, on the caller's Lab.
- `local`: a process pool (standard library; forkserver, else spawn: torch and fork do not mix) on the shared
  workspace, whose SQLite index takes concurrent writers (WAL, busy timeout).
- `ray`: Ray core tasks, one CPU each, and a fraction of a GPU when the cluster has GPUs. Ray workers need no
  shared filesystem: the driver ships the prepared base models and oracles through Ray's object store into a
  node-local cache workspace, the worker runs its cell there and returns the run (record, weights, diagnostics,
  and a band cell's retrain model), and the driver stores it, so the driver is the workspace's only writer. The
  cache is one temporary folder per sweep on each node, removed on every node when the sweep ends.

Each worker takes its share of the cores for torch's threads (`device.choose_threads` with UNLEARN_WORKERS set
to the number of workers: one thread for small models, cores // workers at most for large ones; `threads` fixes
the count), so N workers never oversubscribe the machine. Thread counts can change the last bits of
floating-point sums, so "same numbers on every executor" holds for the same thread count: always the case for
small models (one thread).
"""

from __future__ import annotations

import fcntl
import hashlib
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import types
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.device import WORKERS_ENV, usable_cores
from unlearn_core.studies.sweep import SweepCell, band_model_key

EXECUTORS = ("sequential", "local", "ray")
PROGRESS_EVERY_S = 0.5  # a worker reports a cell's progress at most this often (each report crosses processes)
STOP_POLL_S = 0.5  # and asks whether to stop at most this often


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell: the cell, the workspace folder and the device to use."""

    cell: SweepCell
    home: str
    device: str
    models: tuple[str, ...] = ()  # store keys of the prepared models the cell runs on (shipped to Ray workers)


@dataclass(frozen=True)
class CellOutcome:
    key: str
    label: str
    run_id: str
    status: str  # ok | failed | cancelled | skipped | busy (another sweep is running this cell right now)
    error: str | None
    worker: str  # host:pid that ran it


# ---- the worker side ---------------------------------------------------------------------------------------
_WORKER_LABS: dict[tuple[str, str, int | None], Any] = {}


def _worker_lab(home: str, device: str, threads: int | None):
    from unlearn_core.experiment import Lab
    from unlearn_core.store import Store

    key = (home, device, threads)
    if key not in _WORKER_LABS:
        _WORKER_LABS[key] = Lab(Store(home), device=device, threads=threads)
    return _WORKER_LABS[key]


def _init_worker(workers: int) -> None:
    """Pool initializer. UNLEARN_WORKERS tells `choose_threads` how many workers share the cores. Ctrl-C is the
    driver's to handle (it cancels through the stop event): a worker interrupted mid-run would store a failed run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[WORKERS_ENV] = str(workers)


class _Throttled:
    """Forwards progress at most every PROGRESS_EVERY_S (and always the first and last report)."""

    def __init__(self, sink: Any, key: str, worker: str) -> None:
        self.sink, self.key, self.worker, self.last = sink, key, worker, 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if self.sink is None or (now - self.last < PROGRESS_EVERY_S and fraction < 1.0):
            return
        self.last = now
        try:
            self.sink.put((self.key, float(fraction), message, self.worker))
        except Exception:  # progress is best effort: a full or closed channel must not fail the cell
            pass


class _PolledStop:
    """A stop flag read across processes (a Manager Event, a Ray actor), asked at most every STOP_POLL_S."""

    def __init__(self, ask: Any) -> None:
        self.ask, self.last, self.value = ask, 0.0, False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self.value and now - self.last >= STOP_POLL_S:
            self.last = now
            try:
                self.value = bool(self.ask())
            except Exception:  # the driver went away: stop
                self.value = True
        return self.value

    def set(self) -> None:
        self.value = True


def execute_cell(task: CellTask, sink: Any = None, stop: Any = None, threads: int | None = None) -> CellOutcome:
    """Runs one cell with `Lab.run` (a U-LiRA shadow cell with `run_shadow_pair`) under its content-addressed run
    id (the same code on every executor).

    A cell whose run already finished is not run again; a stale row (interrupted, cancelled) is replaced."""
    from unlearn_core.store import _pid_alive

    cell = task.cell
    worker = f"{socket.gethostname()}:{os.getpid()}"
    lab = _worker_lab(task.home, task.device, threads)
    row = lab.store.run_row(cell.run_id)
    if row is not None:
        if row["status"] == "ok" or (row["status"] == "failed" and not str(row.get("error")).startswith("internal")):
            return CellOutcome(cell.key, cell.label(), cell.run_id, row["status"], row.get("error"), worker)
        if row["status"] == "running" and _pid_alive(row.get("pid")) and row.get("pid") != os.getpid():
            return CellOutcome(cell.key, cell.label(), cell.run_id, "busy",
                               "another sweep is running this cell now", worker)
        lab.store.delete_run(cell.run_id)  # interrupted or cancelled earlier: run it again
    stop_event = stop if stop is not None else threading.Event()
    progress = _Throttled(sink, cell.key, worker)
    try:
        if cell.is_shadow:  # a U-LiRA shadow pair is not a method run: its study trains and stores it
            from unlearn_core.studies.ulira import run_shadow_pair

            record = run_shadow_pair(lab, cell, progress=progress, stop=stop_event)
        else:
            record = lab.run(cell.experiment, cell.forget, cell.method, dict(cell.params), seed=cell.seed,
                             progress=progress, stop=stop_event, run_id=cell.run_id,
                             retrain_seed=cell.retrain_seed, model_key=cell.model_key)
    except sqlite3.IntegrityError:  # another sweep started the same cell a moment ago
        return CellOutcome(cell.key, cell.label(), cell.run_id, "busy", "another sweep is running this cell now",
                           worker)
    except UserInputError as exc:  # refused before anything was stored (e.g. not applicable)
        return CellOutcome(cell.key, cell.label(), cell.run_id, "skipped", str(exc), worker)
    return CellOutcome(cell.key, cell.label(), cell.run_id, record["status"], record.get("error"), worker)


def _execute_in_pool(task: CellTask, sink: Any, stop_event: Any, threads: int | None) -> CellOutcome:
    return execute_cell(task, sink, _PolledStop(stop_event.is_set), threads)


# ---- executors ---------------------------------------------------------------------------------------------
class Executor(ABC):
    """Submit cells, stream their progress, cancel, collect outcomes (see the module docstring)."""

    name: str = ""
    slots: int = 1

    def start(self) -> None:
        """Acquires the workers; raises UserInputError with one line when that is impossible."""
        return None

    def device_for(self, requested: str) -> str:
        return requested

    @abstractmethod
    def submit(self, task: CellTask) -> Any: ...

    @abstractmethod
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...

    @abstractmethod
    def collect(self, handle: Any) -> CellOutcome: ...

    @abstractmethod
    def progress(self) -> list[tuple[str, float, str, str]]: ...

    @abstractmethod
    def cancel(self) -> None: ...

    def close(self) -> None:
        """Releases the workers."""
        return None

    def describe(self) -> dict:
        return {"name": self.name, "workers": self.slots}


class _Relay:
    """A progress sink that hands each report on at once (to the sweep driver's listener)."""

    def __init__(self, listener: Callable[[str, float, str, str], None]) -> None:
        self.listener = listener

    def put(self, item: tuple[str, float, str, str]) -> None:
        self.listener(*item)


class SequentialExecutor(Executor):
    """Runs each cell in this process, one after another, on the caller's Lab (no worker processes).

    A cell runs inside `wait`, which blocks the driver's loop until it ends, so the driver's `stop` event and
    progress `listener`, when given, reach the cell directly: a cancel stops the running cell at once and its
    progress shows while it runs (polled, both would only be seen once it finished)."""

    name = "sequential"

    def __init__(self, lab: Any, stop: threading.Event | None = None,
                 listener: Callable[[str, float, str, str], None] | None = None) -> None:
        self.lab = lab
        self.stop = stop or threading.Event()
        self.sink: queue.Queue | _Relay = _Relay(listener) if listener else queue.Queue()
        self.pending: dict[int, CellTask] = {}
        self.outcomes: dict[int, CellOutcome] = {}

    def submit(self, task: CellTask) -> int:
        handle = len(self.pending) + len(self.outcomes)
        self.pending[handle] = task
        return handle

    def wait(self, handles: list[int], timeout: float) -> list[int]:
        todo = [h for h in handles if h in self.pending]
        if todo:
            task = self.pending.pop(todo[0])
            _WORKER_LABS[(task.home, task.device, self.lab.threads)] = self.lab
            self.outcomes[todo[0]] = execute_cell(task, self.sink, self.stop, self.lab.threads)
        return [h for h in handles if h in self.outcomes]

    def collect(self, handle: int) -> CellOutcome:
        return self.outcomes.pop(handle)

    def progress(self) -> list[tuple[str, float, str, str]]:
        return _drain(self.sink) if isinstance(self.sink, queue.Queue) else []  # a relay handed them on already

    def cancel(self) -> None:
        self.stop.set()

    def device_for(self, requested: str) -> str:
        return str(self.lab.device)

    def describe(self) -> dict:
        return {"name": self.name, "workers": 1, "threads_per_worker": self.lab.threads or "auto"}


def _drain(q: Any) -> list:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except (queue.Empty, Exception):
            return out


class LocalExecutor(Executor):
    """A pool of `workers` processes on this machine (default: one per core), each with its share of threads."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None) -> None:
        self.slots = int(workers or usable_cores())
        self.threads = threads
        self.pool: ProcessPoolExecutor | None = None
        self.manager: Any = None

    def start(self) -> None:
        context = _pool_context()
        with _main_left_out():
            self.manager = context.Manager()
        self.sink = self.manager.Queue()
        self.stop = self.manager.Event()
        self.pool = ProcessPoolExecutor(max_workers=self.slots, mp_context=context, initializer=_init_worker,
                                        initargs=(self.slots,))

    def submit(self, task: CellTask) -> Future:
        with _main_left_out():  # the pool starts its worker processes on submit
            return self.pool.submit(_execute_in_pool, task, self.sink, self.stop, self.threads)

    def wait(self, handles: list[Future], timeout: float) -> list[Future]:
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def collect(self, handle: Future) -> CellOutcome:
        return handle.result()

    def progress(self) -> list[tuple[str, float, str, str]]:
        return _drain(self.sink)

    def cancel(self) -> None:
        self.stop.set()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.manager is not None:
            self.manager.shutdown()
            self.manager = None

    def describe(self) -> dict:
        return {"name": self.name, "workers": self.slots, "threads_per_worker": self.threads or "auto",
                "host": socket.gethostname()}


@contextmanager
def _main_left_out() -> Iterator[None]:
    """Processes started inside do not run this process's __main__ file again. multiprocessing re-executes a
    __main__ that has a file and no module spec in every child it starts; under Streamlit that is the page
    script (Streamlit installs the script it runs as __main__), which would run outside Streamlit in each
    worker. The cells need nothing from __main__: everything they unpickle lives in unlearn_core."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None):
        yield
        return
    stand_in = types.ModuleType("__main__")
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("__main__") is stand_in:  # Streamlit may have installed the next script meanwhile
            sys.modules["__main__"] = main


def _pool_context() -> multiprocessing.context.BaseContext:
    """Forkserver where it exists: a clean server process imports torch and the engine once and every worker
    forks from it in milliseconds (never from this process, whose torch threads must not be forked); spawn
    elsewhere."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["unlearn_core.studies.executors", "unlearn_core.experiment"])
    return context


def check_ray_address(address: str, timeout_s: float = 3.0) -> None:
    """Fails fast, in one line, when a Ray address cannot be reached (Ray itself retries for a minute)."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"Ray address {address!r} is not host:port or ray://host:port")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserInputError(f"cannot reach the Ray cluster at {address}: {reason}") from None


class RayExecutor(Executor):
    """Ray core tasks: `address` joins an existing cluster, none starts a local instance with `workers` CPUs.

    The driver's `lab` ships models out and stores the returned runs (see the module docstring)."""

    name = "ray"

    def __init__(self, lab: Any, workers: int | None = None, address: str | None = None, threads: int | None = None,
                 gpus_per_cell: float | None = None, keep_instance: bool = False) -> None:
        self.lab = lab
        self.keep_instance = keep_instance
        self.shipped: dict[str, Any] = {}  # model key -> object ref of its (kind, state, meta, tensors)
        self.address = address
        self.requested_workers = workers
        self.threads = int(threads or 1)
        self.gpus_per_cell = gpus_per_cell
        self.started_here = False
        self.sweep_id = uuid.uuid4().hex[:12]  # names this sweep's node caches (removed in close)

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise UserInputError('the ray executor needs Ray: pip install -e ".[ray]"') from None
        if self.requested_workers is not None and self.requested_workers < 1:
            raise UserInputError(f"--workers must be at least 1, got {self.requested_workers}")
        if self.address:
            check_ray_address(self.address)
        if not ray.is_initialized():
            # a local instance runs this checkout; a cluster's workers have their own install and data folders
            names = ("UNLEARN_DATA",) if self.address else ("UNLEARN_DATA", "PYTHONPATH")
            env = {k: os.environ[k] for k in names if k in os.environ}
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "runtime_env": {"env_vars": env}}
            if not self.address:
                options["num_cpus"] = int(self.requested_workers or usable_cores())
            try:
                ray.init(address=self.address or None, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserInputError(f"cannot start or join Ray at {self.address or 'a local instance'}: "
                                     f"{' '.join(str(exc).split())[:200]}") from None
            self.started_here = True
        from ray.util.queue import Queue

        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1))
        self.slots = int(self.requested_workers or max(1, cpus // self.threads))
        gpus = float(resources.get("GPU", 0))
        self.cell_gpus = 0.0 if gpus == 0 else float(self.gpus_per_cell or min(1.0, gpus / self.slots))
        self.nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.sink = Queue(maxsize=10_000)
        self.flag = ray.remote(num_cpus=0)(_StopFlag).remote()
        self.remote = ray.remote(_execute_on_ray).options(num_cpus=self.threads, num_gpus=self.cell_gpus,
                                                          max_retries=0)

    def device_for(self, requested: str) -> str:
        return "auto" if self.cell_gpus > 0 and requested == "auto" else ("cpu" if requested == "auto" else requested)

    def _model_ref(self, key: str) -> Any:
        import ray

        if key not in self.shipped:
            state, meta, tensors = self.lab.store.load_model(key)
            self.shipped[key] = ray.put((meta.get("kind", "base"), state, meta, tensors))
        return self.shipped[key]

    def submit(self, task: CellTask) -> Any:
        models = {key: self._model_ref(key) for key in task.models}
        return self.remote.remote(task, models, self.sink, self.flag, self.threads, self.sweep_id)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        import ray

        done, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        return done

    def collect(self, handle: Any) -> CellOutcome:
        import ray

        try:
            outcome, run, models = ray.get(handle)
        except ray.exceptions.RayError as exc:  # the worker died (killed, out of memory): nothing is stored
            return CellOutcome("", "", "", "cancelled", f"Ray worker failed: {type(exc).__name__}", "")
        for key, (kind, state, meta, tensors) in models.items():  # before the run that refers to them
            if not self.lab.store.has_model(key):
                self.lab.store.save_model(key, kind, state, meta, tensors)
        if run is not None:
            store_returned_run(self.lab.store, outcome.run_id, *run)
        return outcome

    def progress(self) -> list[tuple[str, float, str, str]]:
        out = []
        while not self.sink.empty():
            try:
                out.append(self.sink.get_nowait())
            except Exception:
                break
        return out

    def cancel(self) -> None:
        self.flag.set.remote()

    def _remove_node_caches(self) -> None:
        """Removes this sweep's cache folder on every live node: here directly (the driver's node, the only one
        of a local instance), elsewhere by a zero-CPU task pinned to each other node."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        home = str(self.lab.store.root)
        remove_node_cache(home, self.sweep_id)
        here = ray.get_runtime_context().get_node_id()
        remover = ray.remote(num_cpus=0, max_retries=0)(remove_node_cache)
        refs = [remover.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(home, self.sweep_id) for node in ray.nodes() if node.get("Alive") and node["NodeID"] != here]
        try:
            ray.get(refs, timeout=60)
        except Exception:  # a node that went away took its cache with it; cleaning must not fail the sweep
            pass

    def close(self) -> None:
        import ray

        if ray.is_initialized() and hasattr(self, "flag"):
            self._remove_node_caches()
        if self.started_here and ray.is_initialized() and not self.keep_instance:
            ray.shutdown()
            self.started_here = False
        elif ray.is_initialized() and hasattr(self, "flag"):  # the instance lives on: release this sweep's actors
            self.sink.shutdown()
            ray.kill(self.flag)
        self.shipped.clear()

    def describe(self) -> dict:
        return {"name": self.name, "workers": self.slots, "threads_per_worker": self.threads,
                "address": self.address or "local instance", "nodes": self.nodes, "gpus_per_cell": self.cell_gpus}


class _StopFlag:
    """A Ray actor holding the sweep's stop switch."""

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


NODE_CACHE_ROOT = "unlearn-ray-cache"


def node_cache(home: str, sweep_id: str) -> Path:
    """The node-local workspace where a Ray worker keeps the models shipped to it, one per (driver workspace,
    sweep): removed on every node when the sweep ends (`remove_node_cache`)."""
    digest = hashlib.sha256(home.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / NODE_CACHE_ROOT / f"{digest}-{sweep_id}"


def _drop_cache_labs(keep: str | None = None, only: str | None = None) -> None:
    """Drops this worker process's Labs on node caches (all but `keep`, or just `only`): a finished sweep's
    folder is gone, and its models in memory would otherwise stay for the life of a Ray worker (the dashboard
    keeps its Ray instance)."""
    root = str(Path(tempfile.gettempdir()) / NODE_CACHE_ROOT)
    for key in [k for k in _WORKER_LABS if k[0].startswith(root) and k[0] != keep and only in (None, k[0])]:
        _WORKER_LABS.pop(key).store.close()


def remove_node_cache(home: str, sweep_id: str) -> None:
    """Removes a sweep's cache folder on this node (the Ray task `RayExecutor.close` runs on every node)."""
    folder = node_cache(home, sweep_id)
    _drop_cache_labs(only=str(folder))
    shutil.rmtree(folder, ignore_errors=True)
    try:  # the shared parent too, once no other sweep uses it
        folder.parent.rmdir()
    except OSError:
        pass


def _execute_on_ray(task: CellTask, models: dict[str, Any], sink: Any, flag: Any, threads: int, sweep_id: str
                    ) -> tuple[CellOutcome, tuple | None, dict[str, tuple]]:
    """Runs the cell in this node's cache workspace and returns (outcome, (record, weights, diagnostics), the
    models the cell trained: a band cell's retrain)."""
    import ray

    cache = str(node_cache(task.home, sweep_id))
    _drop_cache_labs(keep=cache)
    lab = _worker_lab(cache, task.device, threads)
    # two workers on one node may be shipped the same model at once (cells sharing a base model, e.g. U-LiRA's
    # shadow pairs): both writing its folder would collide, so one writes it and the other then finds it
    with (Path(cache) / ".models.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for key, ref in models.items():
            if not lab.store.has_model(key):
                kind, state, meta, tensors = ray.get(ref) if isinstance(ref, ray.ObjectRef) else ref
                lab.store.save_model(key, kind, state, meta, tensors)
    lab.store.delete_run(task.cell.run_id)  # the cache keeps models, not runs: the driver's store decides
    outcome = execute_cell(replace(task, home=cache), sink, _PolledStop(lambda: ray.get(flag.is_set.remote())),
                           threads)
    run = None
    trained: dict[str, tuple] = {}
    if outcome.status in ("ok", "failed"):
        run_id = task.cell.run_id
        run = (lab.store.get_run(run_id), lab.store.load_run_state(run_id), lab.store.load_run_diagnostics(run_id))
    if task.cell.is_band and lab.store.has_model(band_model_key(task.cell)):
        state, meta, tensors = lab.store.load_model(band_model_key(task.cell))
        trained[band_model_key(task.cell)] = (meta.get("kind", "retrain"), state, meta, tensors)
    lab.store.delete_run(task.cell.run_id)
    return outcome, run, trained


def store_returned_run(store: Any, run_id: str, record: dict, state: dict | None, diagnostics: dict) -> None:
    """Stores a run computed elsewhere under its cell id (the same folder and index row as a local run)."""
    row = store.run_row(run_id)
    if row is not None and row["status"] == "ok":
        return  # another sweep stored this cell meanwhile: same content, same result
    if row is not None:
        store.delete_run(run_id)
    store.start_run(record)
    store.finish_run(run_id, record, state, diagnostics or None)


def make_executor(name: str, *, workers: int | None = None, address: str | None = None, threads: int | None = None,
                  gpus_per_cell: float | None = None, lab: Any = None, keep_ray: bool = False,
                  stop: threading.Event | None = None,
                  listener: Callable[[str, float, str, str], None] | None = None) -> Executor:
    """The executor called `name`; `address` and `keep_ray` (leave a Ray instance started here running) are only
    for ray, `stop` and `listener` (the driver's stop event and progress listener) only for sequential."""
    if name not in EXECUTORS:
        raise UserInputError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
    if address and name != "ray":
        raise UserInputError("--address is for --executor ray")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserInputError(f"--workers must be a positive integer, got {workers!r}")
    if gpus_per_cell is not None and not 0 < gpus_per_cell <= 1:
        raise UserInputError(f"gpus per cell must be in (0, 1], got {gpus_per_cell}")
    if name == "sequential":
        return SequentialExecutor(lab, stop, listener)
    if name == "local":
        return LocalExecutor(workers, threads)
    return RayExecutor(lab, workers, address, threads, gpus_per_cell, keep_ray)


__all__ = ["EXECUTORS", "CellOutcome", "CellTask", "Executor", "LocalExecutor", "RayExecutor", "SequentialExecutor",
           "check_ray_address", "execute_cell", "make_executor", "node_cache", "remove_node_cache",
           "store_returned_run"]
