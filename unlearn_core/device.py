"""Device selection, the torch thread count, and the versions every run records.

Threads are chosen, not inherited: torch's default (one intra-op thread per core) spins when other processes
share the cores. Measured on a 2-core machine with one other busy process, training the digits CNN took 201 s
of wall time with the default threads and 5 s with one thread, for the same weights. `choose_threads` picks
one thread for small models (their per-operation work is too small to split) and, for large ones, no more
than this worker's share of the free cores; `UNLEARN_THREADS` or an explicit request (`--threads`) overrides
it. Executors that run several workers side by side say so with `share_machine(workers)` (or by setting
`UNLEARN_WORKERS` in the workers' environment), so each worker takes its share and the total stays within the
cores.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch

from unlearn_core import UserInputError, __version__


def select_device(requested: str | None = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; the UNLEARN_DEVICE variable overrides `auto`."""
    choice = (requested or "auto").lower()
    if choice == "auto":
        choice = os.environ.get("UNLEARN_DEVICE", "auto").lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice not in {"cpu", "cuda", "mps"} and not choice.startswith("cuda:"):
        raise UserInputError(f"unknown device {requested!r}; use auto, cpu, cuda or mps")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError("CUDA was requested but no CUDA device is available; use --device cpu")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise UserInputError("MPS was requested but is not available; use --device cpu")
    return torch.device(choice)


def device_label(device: torch.device) -> str:
    """Human-readable device name, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


THREADS_ENV = "UNLEARN_THREADS"
WORKERS_ENV = "UNLEARN_WORKERS"
# Below this many parameters a model gets one thread: its matrix products are too small for a second thread to
# pay for its synchronisation (the digits and Fashion-MNIST CNNs, the MLP); ResNet-18 (11 M) is above it.
SMALL_MODEL_PARAMS = 2_000_000


@dataclass(frozen=True)
class ThreadChoice:
    """How many intra-op threads torch uses for a piece of work, and why (recorded in every run)."""

    threads: int
    source: str  # "auto", "UNLEARN_THREADS" or "requested"
    reason: str
    cores: int
    workers: int

    def to_dict(self) -> dict:
        return asdict(self)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores() -> float:
    """Cores already kept busy by other work: the 1-minute load average (0 where the system has none)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def workers_sharing_machine() -> int:
    """How many workers of one runner or sweep share this machine (UNLEARN_WORKERS, default 1)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return 1
    try:
        workers = int(text)
    except ValueError:
        raise UserInputError(f"{WORKERS_ENV} must be a positive integer, got {text!r}") from None
    if workers < 1:
        raise UserInputError(f"{WORKERS_ENV} must be a positive integer, got {text!r}")
    return workers


@contextmanager
def share_machine(workers: int) -> Iterator[None]:
    """For executors: `workers` processes will run side by side on this machine. Worker processes started
    inside the block inherit UNLEARN_WORKERS, so each takes its share of the cores (restored afterwards)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserInputError(f"workers must be a positive integer, got {workers!r}")
    before = os.environ.get(WORKERS_ENV)
    os.environ[WORKERS_ENV] = str(workers)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(WORKERS_ENV, None)
        else:
            os.environ[WORKERS_ENV] = before


def _positive_threads(value: object, what: str) -> int:
    try:
        threads = int(str(value).strip())
    except ValueError:
        raise UserInputError(f"{what} must be a positive integer, got {value!r}") from None
    if threads < 1 or threads > 1024:
        raise UserInputError(f"{what} must be between 1 and 1024, got {value!r}")
    return threads


def choose_threads(num_params: int | None = None, *, requested: int | None = None,
                   workers: int | None = None) -> ThreadChoice:
    """Intra-op threads for training or evaluating a model of `num_params` parameters.

    An explicit `requested` count wins, then UNLEARN_THREADS; otherwise one thread for a model below
    SMALL_MODEL_PARAMS (or of unknown size) and, for a larger one, this worker's share of the cores: at most
    cores // workers, and no more than the cores the load average leaves free."""
    cores = usable_cores()
    workers = workers_sharing_machine() if workers is None else max(1, int(workers))
    if requested is not None:
        threads = _positive_threads(requested, "threads")
        return ThreadChoice(threads, "requested", "requested explicitly (--threads)", cores, workers)
    if os.environ.get(THREADS_ENV, "").strip():
        threads = _positive_threads(os.environ[THREADS_ENV], THREADS_ENV)
        return ThreadChoice(threads, THREADS_ENV, f"set by {THREADS_ENV}", cores, workers)
    if num_params is None or num_params < SMALL_MODEL_PARAMS:
        size = "unknown size" if num_params is None else f"{num_params:,} parameters"
        return ThreadChoice(1, "auto", f"small model ({size} < {SMALL_MODEL_PARAMS:,}): one thread", cores,
                            workers)
    share = max(1, cores // workers)
    free = max(1, cores - math.floor(busy_cores() + 0.5))
    threads = min(share, free)
    return ThreadChoice(threads, "auto", f"{num_params:,} parameters: min(cores {cores} // workers {workers}, "
                        f"free cores {free})", cores, workers)


def apply_threads(choice: ThreadChoice) -> ThreadChoice:
    """Sets torch's intra-op threads to the choice (for the calling thread's later parallel work)."""
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice


# Inference batch sizes. On a CPU a batch of 4,096 28x28 images gives 400 MB activation tensors that fall out of
# every cache: measured 2.5x slower than batches of 256 for the Fashion-MNIST CNN; a GPU wants large batches.
CPU_EVAL_BATCH = 256
ACCELERATOR_EVAL_BATCH = 4096


def eval_batch_size(device: torch.device | str) -> int:
    """Batch size for forward passes without gradients (evaluation, attacks, features) on `device`."""
    return CPU_EVAL_BATCH if torch.device(device).type == "cpu" else ACCELERATOR_EVAL_BATCH


def environment_versions() -> dict[str, str]:
    """Versions recorded with every model and run, so a number can be traced to its software."""
    import numpy
    import sklearn

    return {
        "unlearning_lab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }

