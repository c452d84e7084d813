"""`unlearn bench`: named benchmark scenarios, timed through the Lab, written as markdown and JSON tables.

Every scenario runs in a fresh throwaway workspace, so each table covers the same work: the base model and the
retrain oracle are trained once (and timed), then `Lab.compare` runs the methods and evaluates every model once;
its method calls are the first timed calls (CPU time and peak memory measured around the call alone). With
`repeats` > 1, each method that finished is called again `repeats - 1` times exactly as the Lab calls it (a deep
copy of the base model, the run seed, the same context); the table shows the fastest call (the least disturbed by
other work on a shared machine) next to the Lab's own measurement of its run.

Columns:
- wall s: best wall time of the method call; cpu s: CPU time of that call (process time, all threads);
- x retrain: wall time over the retrain oracle's training time; x fwd+bwd: over one forward and backward pass over
  the forget set with the original model (the floor for any gradient-based edit);
- peak MB: memory the call added at its peak: on CUDA torch.cuda.max_memory_allocated; on Linux CPUs the
  resident-set high-water mark (free heap returned with malloc_trim, then the mark reset through
  /proc/self/clear_refs before the call); elsewhere the process's
  lifetime peak from `resource` (then marked as such).

Scenarios: `smoke` (seconds, for CI), `digits-cnn` (CPU; the targets of issue 7 are checked), and
`shapes50k-resnet18` (the GPU benchmark when CUDA is present, else a reduced CPU form that the table names).
On the CPU the bench runs with one torch thread, as the targets are stated for a shared two-core machine.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import platform
import re
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.device import device_label, environment_versions, select_device
from unlearn_core.experiment import ExperimentSpec, Lab, experiment_from_args
from unlearn_core.methods import UnlearnContext, execute_method, get_method, list_methods
from unlearn_core.persample import diagonal_fisher, diagonal_fisher_loop, per_sample_grads, per_sample_grads_loop
from unlearn_core.progress import Progress, quiet
from unlearn_core.store import Store

UPDATE_LOG_METHODS = ("amnesiac", "partial_amnesiac")


@dataclass(frozen=True)
class Case:
    """One forget set and the methods run on it (all registered methods when `methods` is empty)."""

    label: str
    forget: ForgetSpec
    methods: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # method -> why this scenario does not run it


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    spec: ExperimentSpec
    cases: tuple[Case, ...]
    repeats: int = 3  # timed calls per method (the best is reported)
    persample_samples: int = 0  # images for the vmap-vs-loop per-sample gradient comparison (0 = skip)
    fisher_samples: int = 0  # images for the vmap-vs-loop diagonal Fisher comparison (0 = skip)
    targets: dict[str, float] = field(default_factory=dict)  # method (or "compare") -> seconds


def _smoke(device: torch.device) -> Scenario:
    spec = experiment_from_args("digits", "cnn", 0, epochs=3)
    return Scenario(
        "smoke", "CI check: digits, small CNN trained 3 epochs (with mnemonic codes and recorded updates), class 3, "
        "four methods, one timed call each", spec,
        (Case("class 3", ForgetSpec(classes=(3,)), ("slug", "mnemonic", "ssd", "gradient_ascent"),
              {"gradient_ascent": {"epochs": 1}}),),
        repeats=1, persample_samples=16, fisher_samples=2)


def _digits_cnn(device: torch.device) -> Scenario:
    spec = ExperimentSpec("digits", "cnn", 0)
    return Scenario(
        "digits-cnn", "the default experiment: digits, small CNN (53k parameters), 30 epochs with mnemonic codes "
        "and recorded updates; every method on class 3, and the update-replaying methods on a random 1% as well",
        spec,
        (Case("class 3", ForgetSpec(classes=(3,))),
         Case("random 1%", ForgetSpec(random_fraction=0.01, seed=0),
              ("partial_amnesiac", "amnesiac", "slug", "ssd", "semu"))),
        repeats=3, persample_samples=128, fisher_samples=16,
        targets={"slug": 1.0, "mnemonic": 1.0, "partial_amnesiac": 1.0, "ssd": 1.0, "semu": 3.0, "compare": 120.0})


def _shapes_resnet18(device: torch.device) -> Scenario:
    storage_reason = ("recording every training step's update of ResNet-18's 11 M parameters would take hundreds "
                      "of GB (amnesiac storage); not run here")
    if device.type == "cuda":
        spec = experiment_from_args("shapes", "resnet18", 0, dataset_options={"n_train": 50_000, "n_test": 10_000})
        return Scenario(
            "shapes50k-resnet18", "GPU form: procedural shapes, 50k training images, ResNet-18 with its default "
            "recipe (SGD, cosine, 30 epochs, augmentation), class 3, every method but the update-replaying ones",
            spec,
            (Case("class 3", ForgetSpec(classes=(3,)),
                  tuple(m for m in list_methods() if m not in UPDATE_LOG_METHODS),
                  left_out=dict.fromkeys(UPDATE_LOG_METHODS, storage_reason)),),
            repeats=3, persample_samples=64, fisher_samples=4)
    spec = experiment_from_args("shapes", "resnet18", 0, epochs=1,
                                dataset_options={"n_train": 256, "n_test": 128})
    reduced = "left out of the reduced CPU form (ResNet-18 trains at a few dozen images per second on one core)"
    kept = ("slug", "ssd", "fisher_forgetting")
    return Scenario(
        "shapes50k-resnet18", "REDUCED CPU FORM (no CUDA device): procedural shapes, 256 training and 128 test "
        "images, ResNet-18 trained 1 epoch (its accuracies mean nothing; the timings show the cost per image), "
        "class 3, three one-shot methods with smaller searches", spec,
        (Case("class 3", ForgetSpec(classes=(3,)), kept,
              {"slug": {"search_steps": 4, "eval_samples": 64}, "fisher_forgetting": {"max_retain_samples": 8}},
              left_out={m: storage_reason if m in UPDATE_LOG_METHODS else reduced
                        for m in list_methods() if m not in kept}),),
        repeats=1, persample_samples=4, fisher_samples=1)


# ---- Fashion-MNIST at real scale ------------------------------------------------------------------------------
FMNIST_LOG_REASON = ("recording every training step's full update of the 421,642-parameter CNN takes 7.4 GiB over "
                     "10 epochs of 60k images (4,690 steps; amnesiac storage); not run here")


def _fmnist_cases(max_train: int | None, methods: tuple[str, ...], left_out: dict[str, str]) -> tuple[Case, ...]:
    from unlearn_core.presets import FMNIST_PICKED_IMAGES

    if max_train is None:
        picked = FMNIST_PICKED_IMAGES
    else:  # the preset's images index the full set: a reduced run draws its own 50, the same way
        import numpy as np

        picked = tuple(sorted(int(i) for i in np.random.default_rng(0).choice(max_train, 50, replace=False)))
    return (Case("class 7 (sneaker)", ForgetSpec(classes=(7,)), methods, left_out=left_out),
            Case("random 10%", ForgetSpec(random_fraction=0.1, seed=0), methods, left_out=left_out),
            Case("50 hand-picked images", ForgetSpec(indices=picked), methods, left_out=left_out))


def _size_options(max_train: int | None, max_test: int | None) -> dict[str, int]:
    return {k: v for k, v in (("max_train", max_train), ("max_test", max_test)) if v}


def _size_text(max_train: int | None, max_test: int | None) -> str:
    if not (max_train or max_test):
        return "the full official data (60,000 training, 10,000 test images)"
    return (f"REDUCED to {max_train or 60_000:,} training and {max_test or 10_000:,} test images (seeded stratified "
            "subsets of the official files; the scenario's definition is the full data)")


def _fmnist_cnn(device: torch.device, max_train: int | None = None, max_test: int | None = None) -> Scenario:
    """The default Fashion-MNIST experiment, CPU: the flattened-head CNN with its recipe, plus mnemonic codes (so
    the mnemonic method runs on the same base model); the update-replaying methods are left out (storage)."""
    spec = experiment_from_args("fashion_mnist", "cnn_flat", 0, dataset_options=_size_options(max_train, max_test),
                                mnemonic_t_mix=0.1)
    methods = tuple(m for m in list_methods() if m not in UPDATE_LOG_METHODS)
    return Scenario(
        "fmnist-cnn", f"Fashion-MNIST, {_size_text(max_train, max_test)}; the CNN with a flattened head (421,642 "
        "parameters), its default recipe (Adam, cosine, 10 epochs) with mnemonic codes; every method but the "
        "update-replaying ones on a class, a random 10% and 50 hand-picked images; one timed call per method", spec,
        _fmnist_cases(max_train, methods, dict.fromkeys(UPDATE_LOG_METHODS, FMNIST_LOG_REASON)),
        repeats=1, persample_samples=64, fisher_samples=4)


def _fmnist_resnet18(device: torch.device, max_train: int | None = None, max_test: int | None = None) -> Scenario:
    """Fashion-MNIST with ResNet-18 (SGD, cosine, 30 epochs): defined for a GPU."""
    if device.type != "cuda":
        raise UserInputError("fmnist-resnet18 is defined for a CUDA GPU (ResNet-18 on 60k images for 30 epochs); "
                             "none is available here: run it with --device cuda on a GPU machine")
    storage = ("recording every training step's update of ResNet-18's 11 M parameters would take hundreds of GB "
               "(amnesiac storage); not run here")
    spec = experiment_from_args("fashion_mnist", "resnet18", 0, dataset_options=_size_options(max_train, max_test))
    methods = tuple(m for m in list_methods() if m not in UPDATE_LOG_METHODS)
    return Scenario(
        "fmnist-resnet18", f"GPU: Fashion-MNIST, {_size_text(max_train, max_test)}; ResNet-18 (CIFAR stem) with its "
        "default recipe (SGD, cosine, 30 epochs); every method but the update-replaying ones on a class, a random "
        "10% and 50 hand-picked images", spec,
        _fmnist_cases(max_train, methods, dict.fromkeys(UPDATE_LOG_METHODS, storage)),
        repeats=3, persample_samples=64, fisher_samples=4)


# scenarios that can run on a stated subset (`unlearn bench --max-train N --max-test M`)
SIZED_SCENARIOS: dict[str, Callable[..., Scenario]] = {"fmnist-cnn": _fmnist_cnn, "fmnist-resnet18": _fmnist_resnet18}


SCENARIOS: dict[str, Callable[[torch.device], Scenario]] = {
    "smoke": _smoke,
    "digits-cnn": _digits_cnn,
    "shapes50k-resnet18": _shapes_resnet18,
    **SIZED_SCENARIOS,
}
PREFERRED_DEVICE = {"smoke": "cpu", "digits-cnn": "cpu", "shapes50k-resnet18": "auto", "fmnist-cnn": "cpu",
                    "fmnist-resnet18": "auto"}


def _contention(device: torch.device, progress: Progress) -> dict:
    from unlearn_core.bench_threads import run_contention

    return run_contention(device, progress)


# Scenarios that measure something other than a method table: name -> runner returning the result dict
# (with a "markdown" key), written like the others.
def _archs(device: torch.device, progress: Progress) -> dict:
    from unlearn_core.bench_archs import run_archs

    return run_archs(device, progress)


RUNNERS: dict[str, Callable[[torch.device, Progress], dict]] = {"contention": _contention, "archs": _archs}
PREFERRED_DEVICE["contention"] = "cpu"
PREFERRED_DEVICE["archs"] = "cpu"


def _sweep(device: torch.device, progress: Progress) -> dict:
    from unlearn_core.studies.sweep_bench import run_sweep_bench

    return run_sweep_bench(device, progress)


RUNNERS["sweep"] = _sweep  # 8 light and 8 heavier cells on each executor (studies/sweep_bench.py)
PREFERRED_DEVICE["sweep"] = "cpu"


def _fmnist_scaling(device: torch.device, progress: Progress, max_train: int | None = None) -> dict:
    from unlearn_core.bench_scale import SCALING_SIZES, run_scaling

    sizes = tuple(s for s in SCALING_SIZES if s <= max_train) if max_train else SCALING_SIZES
    if not sizes:
        raise UserInputError(f"--max-train {max_train} is below the smallest scaling size {SCALING_SIZES[0]:,}")
    return run_scaling(device, progress, sizes)


RUNNERS["fmnist-scaling"] = _fmnist_scaling  # one-shot methods at 5k, 20k, 60k images (bench_scale.py)
PREFERRED_DEVICE["fmnist-scaling"] = "cpu"


# ---- measuring ------------------------------------------------------------------------------------------------
def _proc_status_kb(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _release_free_heap() -> None:
    """Glibc keeps freed memory for reuse, which would hide a call's allocations from the RSS high-water mark:
    hand it back to the system first (no-op where glibc is absent)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    _release_free_heap()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS
    except OSError:
        return False
    return _proc_status_kb("VmHWM") is not None


def memory_method(device: torch.device) -> str:
    """How peak memory is measured on this device and system (shown under the tables)."""
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated above the allocation at the start of the call"
    if _reset_peak_rss():
        return "resident-set high-water mark above the RSS at the start of the call (/proc/self/clear_refs)"
    return "process lifetime peak RSS (resource.getrusage): an upper bound, not per call"


@dataclass
class Measurement:
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float | None = None
    diagnostics: dict[str, Any] | None = None  # the timed method call's, when one was timed (time_method)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def measure(device: torch.device, out: Measurement | None = None) -> Iterator[Measurement]:
    """Wall time, CPU time and peak added memory of the block (see `memory_method`), written into `out` (a new
    Measurement unless given, so that a caller can hand the timer to `execute_method` and read it after)."""
    out = out if out is not None else Measurement()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        start_bytes = torch.cuda.memory_allocated(device)
    per_call = device.type != "cuda" and _reset_peak_rss()
    start_rss = _proc_status_kb("VmRSS") if per_call else None
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    _sync(device)
    out.wall, out.cpu = time.perf_counter() - wall, time.process_time() - cpu
    if device.type == "cuda":
        out.peak_mb = (torch.cuda.max_memory_allocated(device) - start_bytes) / 2**20
    elif per_call and start_rss is not None:
        out.peak_mb = max(0, (_proc_status_kb("VmHWM") or 0) - start_rss) / 1024
    else:
        out.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def forward_backward_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                             repeats: int = 5, batch_size: int = 512) -> float:
    """Best time of one forward and backward pass of the mean cross-entropy over (x, y), in batches."""
    model = copy.deepcopy(model).eval()
    best = float("inf")
    for _ in range(repeats):
        with measure(device) as m:
            for start in range(0, len(y), batch_size):
                loss = F.cross_entropy(model(x[start:start + batch_size]), y[start:start + batch_size],
                                       reduction="sum") / len(y)
                loss.backward()
        model.zero_grad(set_to_none=True)
        best = min(best, m.wall)
    return best


def time_method(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, method: str, params: dict | None,
                seed: int, repeats: int) -> tuple[Measurement, list[float]]:
    """The method called as `Lab.run` calls it, `repeats` times: (the fastest call, every call's wall time)."""
    impl = get_method(method)
    cfg = impl.Config.from_values(params)
    variant = spec.with_artifacts(impl.info.needs_artifacts)
    base = lab.base_model(variant)
    splits = Splits.build(lab.dataset(variant), forget, lab.device)
    best: Measurement | None = None
    walls = []
    for _ in range(repeats):
        m = Measurement()
        execution = execute_method(impl, base.model, splits, base.artifacts, cfg, UnlearnContext(lab.device, seed),
                                   timer=measure(lab.device, m))
        m.diagnostics = execution.result.diagnostics
        walls.append(m.wall)
        if best is None or m.wall < best.wall:
            best = m
    return best, walls


def persample_speedup(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fisher_samples: int,
                      device: torch.device) -> dict[str, Any]:
    """Vmap against the plain loop: per-sample CE gradients on x, and the true diagonal Fisher on its first
    `fisher_samples` images; times (best of 2) and the largest absolute difference between the two results."""
    model = copy.deepcopy(model).eval()
    out: dict[str, Any] = {}
    pairs = {"per_sample_grads": (lambda: per_sample_grads(model, x, y), lambda: per_sample_grads_loop(model, x, y),
                                  len(x))}
    if fisher_samples > 0:
        xf = x[:fisher_samples]
        pairs["diagonal_fisher"] = (lambda: diagonal_fisher(model, xf), lambda: diagonal_fisher_loop(model, xf),
                                    len(xf))
    for name, (fast, slow, count) in pairs.items():
        times, results = {}, {}
        for label, fn in (("vmap", fast), ("loop", slow)):
            best = float("inf")
            for _ in range(2):
                with measure(device) as m:
                    results[label] = fn()
                best = min(best, m.wall)
            times[label] = best
        diff = max(float((results["vmap"][k] - results["loop"][k]).abs().max()) for k in results["vmap"])
        out[name] = {"samples": count, "vmap_s": times["vmap"], "loop_s": times["loop"],
                     "speedup": times["loop"] / times["vmap"], "max_abs_diff": diff}
    return out


# ---- the run ----------------------------------------------------------------------------------------------------
@contextmanager
def _threads(device: torch.device) -> Iterator[int]:
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)



def run_bench(scenario: str = "smoke", device: str = "auto", progress: Progress | None = None,
              out_dir: Path | None = None, max_train: int | None = None, max_test: int | None = None,
              resume: bool = False) -> dict:
    """Runs `scenario` and returns its tables as a dict (with a "markdown" key); writes `<scenario>.md` and
    `<scenario>.json` into `out_dir` when given. `max_train`/`max_test` run a SIZED_SCENARIOS entry on a stated
    subset (named in its description). `resume` continues the partial table in `out_dir` (written after each
    finished case of a run that was stopped) from its first unfinished case; each case records when it ran and
    the load around it, so cases measured in different calls say so."""
    if resume and (out_dir is None or scenario in RUNNERS):
        raise UserInputError("--resume continues a partial table of a scenario with cases: give --out-dir, and one of "
                             f"{', '.join(SCENARIOS)}")
    if scenario not in SCENARIOS and scenario not in RUNNERS:
        raise UserInputError(f"unknown scenario {scenario!r}; choose one of: {', '.join([*SCENARIOS, *RUNNERS])}")
    if (max_train or max_test) and scenario not in SIZED_SCENARIOS and scenario != "fmnist-scaling":
        raise UserInputError(f"--max-train/--max-test apply to {', '.join(SIZED_SCENARIOS)} and fmnist-scaling "
                             f"(its largest size), not {scenario}")
    if max_test and scenario == "fmnist-scaling":
        raise UserInputError("fmnist-scaling takes --max-train (its largest size), not --max-test")
    progress = progress or quiet
    dev = select_device(PREFERRED_DEVICE[scenario] if device == "auto" else device)
    if scenario in RUNNERS:
        result = RUNNERS[scenario](dev, progress, max_train) if max_train else RUNNERS[scenario](dev, progress)
        progress(1.0, "done")
        if out_dir is not None:
            _write_tables(out_dir, scenario, result)
        return result
    sized = SIZED_SCENARIOS.get(scenario)
    sc = sized(dev, max_train, max_test) if sized else SCENARIOS[scenario](dev)
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as home, _threads(dev) as threads:
        lab = Lab(Store(Path(home)), device=str(dev), threads=threads if dev.type == "cpu" else None)
        trained: set[str] = set()  # base models trained by an earlier case (then cached, not timed again)
        cases: list[dict] = []
        if resume:
            cases, started, load_before = _finished_cases(out_dir / f"{sc.name}.json", sc, dev, threads, started,
                                                          load_before)
        if cases:
            trained.update(sc.spec.resolved().with_artifacts(get_method(name).info.needs_artifacts).key
                           for case in sc.cases[:len(cases)] for name in (case.methods or list_methods()))
        for i, case in enumerate(sc.cases):
            if i < len(cases):
                continue
            cases.append(_run_case(lab, sc, case, progress, i, len(sc.cases), trained))
            if out_dir is not None and i + 1 < len(sc.cases):  # a long run stopped later keeps its finished cases
                partial = _result(sc, dev, threads, load_before, started, cases, {})
                partial["unfinished"] = [c.label for c in sc.cases[i + 1:]]
                partial["markdown"] = to_markdown(partial)
                _write_tables(out_dir, sc.name, partial)
        persample = {}
        if sc.persample_samples:
            progress(0.97, "per-sample gradients: vmap against the loop")
            base = lab.base_model(sc.spec)
            splits = Splits.build(lab.dataset(sc.spec), sc.cases[0].forget, lab.device)
            x, y = splits.retain()
            persample = persample_speedup(base.model, x[:sc.persample_samples], y[:sc.persample_samples],
                                          sc.fisher_samples, lab.device)
        result = _result(sc, dev, threads, load_before, started, cases, persample)  # the device label's threads
    result["markdown"] = to_markdown(result)
    progress(1.0, "done")
    if out_dir is not None:
        _write_tables(out_dir, sc.name, result)
    return result


def _finished_cases(path: Path, sc: Scenario, dev: torch.device, threads: int, started: str,
                    load_before: tuple[float, ...]) -> tuple[list[dict], str, tuple[float, ...]]:
    """The finished cases of the partial table at `path`, when that table was started and the load then, when it
    was made by the same scenario definition on the same device and threads (an absent file: no cases, `started`
    and `load_before`, so the run starts from the first case)."""
    if not path.exists():
        return [], started, load_before
    try:
        prior = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot resume from {path}: {exc}") from None
    if not prior.get("unfinished"):
        raise UserInputError(f"{path} holds a finished table: nothing to resume (run without --resume to redo it)")
    same = {"description": sc.description, "device": device_label(dev), "threads": threads}
    differs = [k for k, v in same.items() if prior.get(k) != v]
    if differs:
        raise UserInputError(f"cannot resume from {path}: its {', '.join(differs)} differ from this run's; run "
                             "without --resume to start again")
    labels = [c.label for c in sc.cases]
    done = prior["cases"]
    if [c["label"] for c in done] != labels[:len(done)]:
        raise UserInputError(f"cannot resume from {path}: its cases are not the first cases of {sc.name}")
    return done, prior["created"], tuple(prior["load_before"])


def _result(sc: Scenario, dev: torch.device, threads: int, load_before: tuple[float, ...], started: str,
            cases: list[dict], persample: dict) -> dict:
    return {
        "scenario": sc.name, "description": sc.description, "device": device_label(dev), "threads": threads,
        "cpu_count": os.cpu_count(), "load_before": list(load_before), "load_after": list(os.getloadavg()),
        "machine": platform.machine(), "versions": environment_versions(), "created": started,
        "memory": memory_method(dev), "repeats": sc.repeats, "cases": cases, "persample": persample,
        "targets": _check_targets(sc, cases),
    }


def _write_tables(out_dir: Path, name: str, result: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.md").write_text(result["markdown"])
    (out_dir / f"{name}.json").write_text(
        json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=1, default=str))


def _run_case(lab: Lab, sc: Scenario, case: Case, progress: Progress, index: int, count: int,
              trained: set[str]) -> dict:
    lo, hi = index / count, (index + 1) / count
    recorded, load_before = time.strftime("%Y-%m-%d %H:%M"), list(os.getloadavg())

    def step(fraction: float, message: str) -> None:
        progress(0.95 * (lo + (hi - lo) * fraction), f"{case.label}: {message}")

    spec = sc.spec.resolved()
    seed = spec.seed
    names = list(case.methods) or list_methods()
    training = []
    # every base variant the methods need, and its oracle, trained (and timed) before any method runs
    variants: dict[str, ExperimentSpec] = {}
    for name in names:
        variant = spec.with_artifacts(get_method(name).info.needs_artifacts)
        variants.setdefault(variant.key, variant)
    oracles = {}
    for key, variant in variants.items():
        label = "" if key == spec.key else " (variant: " + ", ".join(
            k for k in ("mnemonic_t_mix", "record_updates")
            if getattr(variant.recipe, k) != getattr(spec.recipe, k)) + ")"
        if key in trained:
            base = lab.base_model(variant)
        else:
            step(0.0, f"training the base model{label}")
            with measure(lab.device) as m:
                base = lab.base_model(variant)
            training.append({"model": f"base{label}", **_m(m)})
            trained.add(key)
        step(0.1, f"training the retrain oracle{label}")
        with measure(lab.device) as m:
            oracles[key] = lab.retrain_oracle(base, case.forget)
        training.append({"model": f"retrain oracle{label}", **_m(m)})
    base = lab.base_model(spec)
    splits = Splits.build(lab.dataset(spec), case.forget, lab.device)
    floor = forward_backward_seconds(base.model, *splits.forget(), lab.device)

    step(0.2, "Lab.compare")
    # each method's first timed call is its call inside Lab.compare (the one a user's run makes), so a scenario
    # with one repeat runs every method once; further repeats call it again (time_method)
    in_compare: dict[str, Measurement] = {}
    with measure(lab.device) as compare_m:
        compared = lab.compare(spec, case.forget, names, case.params, progress=lambda f, msg: step(0.2 + 0.4 * f, msg),
                               timer_for=lambda name: measure(lab.device, in_compare.setdefault(name, Measurement())))
    records = {r["method"]: r for r in compared["runs"]}
    rows = []
    for i, name in enumerate(names):
        step(0.6 + 0.4 * i / len(names), f"timing {name}")
        record = records.get(name)
        variant = spec.with_artifacts(get_method(name).info.needs_artifacts)
        retrain_s = float(oracles[variant.key].meta["train_seconds"])
        row: dict[str, Any] = {"method": name, "params": case.params.get(name, {})}
        if record is None:
            row.update(status="skipped", error=next(s["reason"] for s in compared["skipped"] if s["method"] == name))
        elif record["status"] != "ok":
            row.update(status=record["status"], error=record["error"])
        elif name == "retrain":
            row.update(status="ok", lab_s=record["seconds"], wall_s=retrain_s, x_retrain=1.0,
                       x_floor=retrain_s / floor, **_metrics(record))
        else:
            best, walls = in_compare[name], [in_compare[name].wall]
            if sc.repeats > 1:
                again, more = time_method(lab, spec, case.forget, name, case.params.get(name), seed, sc.repeats - 1)
                best, walls = min(best, again, key=lambda m: m.wall), walls + more
            row.update(status="ok", lab_s=record["seconds"], wall_s=best.wall, cpu_s=best.cpu, peak_mb=best.peak_mb,
                       walls=walls, x_retrain=best.wall / retrain_s, x_floor=best.wall / floor, **_metrics(record))
        rows.append(row)
    left_out = [{"method": m, "reason": r} for m, r in case.left_out.items()]
    return {"label": case.label, "forget": case.forget.to_dict(), "forget_size": len(splits.forget_idx),
            "floor_s": floor, "training": training, "compare": {"methods": len(names), **_m(compare_m)},
            "rows": rows, "left_out": left_out, "recorded": recorded, "load_before": load_before,
            "load_after": list(os.getloadavg())}


def _m(m: Measurement) -> dict[str, float | None]:
    return {"wall_s": m.wall, "cpu_s": m.cpu, "peak_mb": m.peak_mb}


def _metrics(record: dict) -> dict[str, float]:
    return {k: record["metrics"][k] for k in ("forget_acc", "test_acc", "avg_gap")}


def _check_targets(sc: Scenario, cases: list[dict]) -> list[dict]:
    checks = []
    for name, limit in sc.targets.items():
        if name == "compare":
            # `unlearn compare --methods all` from a fresh workspace: base and oracle training plus the comparison
            case = cases[0]
            seconds = case["compare"]["wall_s"] + sum(t["wall_s"] for t in case["training"])
            checks.append({"what": "compare --methods all (fresh workspace)", "limit_s": limit, "wall_s": seconds,
                           "met": seconds <= limit})
            continue
        for case in cases:
            for row in case["rows"]:
                if row["method"] == name and row["status"] == "ok":
                    checks.append({"what": f"{name} ({case['label']})", "limit_s": limit, "wall_s": row["wall_s"],
                                   "cpu_s": row["cpu_s"], "met": row["wall_s"] <= limit})
    return checks


# ---- markdown ---------------------------------------------------------------------------------------------------
def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(result: dict) -> str:
    lines = [f"# Benchmark `{result['scenario']}`", "", result["description"] + ".", "",
             f"Recorded {result['created']} on {result['device']}, {result['cpu_count']} CPUs ({result['machine']}), "
             f"torch {result['versions']['torch']}, Python {result['versions']['python']}; torch threads: "
             f"{result['threads']}. Load average (1, 5, 15 min) before: "
             + ", ".join(f"{v:.1f}" for v in result["load_before"]) + "; after: "
             + ", ".join(f"{v:.1f}" for v in result["load_after"]) + ". "
             f"Peak memory: {result['memory']}. Method times are the best of {result['repeats']} call(s).", ""]
    if result.get("unfinished"):
        lines += [f"**Partial table**: written after its finished cases; not (yet) run: "
                  f"{', '.join(result['unfinished'])} (the run was still going or was stopped).", ""]
    for case in result["cases"]:
        when = (f"Case recorded {case['recorded']}, load average before "
                + ", ".join(f"{v:.1f}" for v in case["load_before"]) + "; after "
                + ", ".join(f"{v:.1f}" for v in case["load_after"]) + ". ") if case.get("recorded") else ""
        lines += [f"## {case['label']} ({case['forget_size']} forget images)", "",
                  f"{when}One forward+backward pass over the forget set (the floor): "
                  f"{case['floor_s'] * 1000:.1f} ms.", "",
                  "| model | wall s | cpu s | peak MB |", "|---|---|---|---|"]
        if not any(t["model"].startswith("base") for t in case["training"]):
            lines.append("| base | (trained in an earlier case, cached) | | |")
        lines += [f"| {t['model']} | {_f(t['wall_s'])} | {_f(t['cpu_s'])} | {_f(t['peak_mb'], 1)} |"
                  for t in case["training"]]
        c = case["compare"]
        lines += [f"| Lab.compare of {c['methods']} methods (models cached; every run evaluated once) | "
                  f"{_f(c['wall_s'])} | {_f(c['cpu_s'])} | {_f(c['peak_mb'], 1)} |", "",
                  "| method | status | wall s | cpu s | Lab s | x retrain | x fwd+bwd | peak MB | forget_acc | "
                  "test_acc | avg_gap |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in case["rows"]:
            name = r["method"] + (" (" + ", ".join(f"{k}={v}" for k, v in r["params"].items()) + ")"
                                  if r["params"] else "")
            if r["status"] != "ok":
                lines.append(f"| {name} | **{r['status']}**: {r['error']} | | | | | | | | | |")
                continue
            lines.append(
                f"| {name} | ok | {_f(r['wall_s'], 3)} | {_f(r.get('cpu_s'), 3)} | {_f(r['lab_s'], 3)} | "
                f"{_f(r['x_retrain'], 3)} | {_f(r['x_floor'], 1)} | {_f(r.get('peak_mb'), 1)} | "
                f"{_f(r['forget_acc'], 3)} | {_f(r['test_acc'], 3)} | {_f(r['avg_gap'], 3)} |")
        by_reason: dict[str, list[str]] = {}
        for item in case["left_out"]:
            by_reason.setdefault(item["reason"], []).append(item["method"])
        lines += [f"| {', '.join(methods)} | left out: {reason} | | | | | | | | | |"
                  for reason, methods in by_reason.items()]
        lines.append("")
    if result["persample"]:
        lines += ["## Per-sample gradients: vmap against a plain loop", "",
                  "| computation | samples | vmap s | loop s | speed-up | max abs difference |",
                  "|---|---|---|---|---|---|"]
        for name, p in result["persample"].items():
            lines.append(f"| {name} | {p['samples']} | {p['vmap_s']:.3f} | {p['loop_s']:.3f} | {p['speedup']:.1f}x | "
                         f"{p['max_abs_diff']:.1e} |")
        lines.append("")
    if result["targets"]:
        lines += ["## Targets", "", "| what | limit s | wall s | cpu s | met |", "|---|---|---|---|---|"]
        lines += [f"| {t['what']} | {t['limit_s']:g} | {_f(t['wall_s'])} | {_f(t.get('cpu_s'))} | "
                  f"{'yes' if t['met'] else '**no**'} |" for t in result["targets"]]
        lines.append("")
    return "\n".join(lines)


__all__ = ["RUNNERS", "SCENARIOS", "Case", "Scenario", "forward_backward_seconds", "measure", "persample_speedup",
           "run_bench", "time_method", "to_markdown"]
