"""`unlearn bench --scenario sweep`: wall time of 8-cell sweeps on each executor, as a ratio to sequential.

Two sweeps: 8 light cells (digits, under a second each), where starting workers dominates, and 8 heavier cells
(5,000 Fashion-MNIST images, tens of seconds each), where the cells' own work dominates and a second worker can
pay off; the heavier one is left out, with the reason, when the Fashion-MNIST files are not installed.
For each, the base model, the retrain oracle and their reference metrics are prepared once in a private
workspace and not timed; then the same 8 cells run (their runs deleted in between) in this process one after
another (the baseline), on the local process pool with 1 and with 2 workers, and on a local Ray instance with
2 workers. Each wall time includes what the user waits for: starting the pool or Ray, and every cell's run and
evaluation. The metrics of every cell are compared across executors and must be identical.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from unlearn_core.data import ForgetSpec
from unlearn_core.data.torchvision_sets import missing_files_reason
from unlearn_core.device import device_label, environment_versions, usable_cores
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.progress import Progress
from unlearn_core.store import Store
from unlearn_core.studies.sweep import MethodGrid, SweepSpec, prepare, run_sweep

BENCH_SWEEP = SweepSpec(experiment_from_args("digits", "cnn", 0, epochs=5), (ForgetSpec(classes=(3,)),),
                        (MethodGrid.of("finetune", epochs=[2, 4, 6, 8]),), seeds=(0, 1), seed_base=False,
                        title="bench: 8 finetune cells")
HEAVY_SWEEP = SweepSpec(experiment_from_args("fashion_mnist", "cnn_flat", 0, epochs=5,
                                             dataset_options={"max_train": 5000, "max_test": 1000}),
                        (ForgetSpec(classes=(7,)),), (MethodGrid.of("finetune", epochs=[1, 2], lr=[0.01, 0.02]),),
                        seeds=(0, 1), seed_base=False, title="bench: 8 finetune cells on 5,000 Fashion-MNIST images")
MODES = (("sequential", 1), ("local", 1), ("local", 2), ("ray", 2))


def _metrics_without_timing(value):
    if isinstance(value, dict):
        return {k: _metrics_without_timing(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_metrics_without_timing(v) for v in value]
    return value


def _differences(cells: list, reference: dict, metrics: dict, limit: int = 8) -> list[dict]:
    """The first metrics that differ from the sequential run's, cell by cell (what to look at when a row says NO)."""
    out = []
    for cell in cells:
        if cell.key not in reference or cell.key not in metrics:
            continue  # a cell that did not finish is listed as such, not as differences
        ref, got = reference[cell.key] or {}, metrics[cell.key] or {}
        out += [{"cell": cell.label(), "metric": k, "sequential": ref.get(k), "here": got.get(k)}
                for k in sorted(set(ref) | set(got)) if ref.get(k) != got.get(k)]
    return out[:limit]


def run_sweep_bench(device: torch.device, progress: Progress,
                    specs: tuple[SweepSpec, ...] = (BENCH_SWEEP, HEAVY_SWEEP),
                    modes: tuple[tuple[str, int], ...] = MODES) -> dict:
    """Times each of `specs` on each (executor, workers) of `modes`; see the module docstring."""
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    sweeps = []
    for i, spec in enumerate(specs):
        def part(fraction: float, message: str, i: int = i, title: str = spec.title) -> None:
            progress((i + fraction) / len(specs), f"{title}: {message}")

        missing = missing_files_reason(spec.experiment.dataset, dict(spec.experiment.dataset_options))
        sweeps.append({"description": f"{len(spec.cells())}-cell sweep ({spec.title})", "skipped": missing}
                      if missing else _time_sweep(device, part, spec, modes))
    result = {"scenario": "sweep", "device": device_label(device), "cores": usable_cores(),
              "cpu_count": os.cpu_count(), "load_before": list(load_before), "load_after": list(os.getloadavg()),
              "created": started, "machine": platform.machine(), "versions": environment_versions(),
              "sweeps": sweeps}
    result["markdown"] = sweep_markdown(result)
    return result


def _time_sweep(device: torch.device, progress: Progress, spec: SweepSpec,
                modes: tuple[tuple[str, int], ...]) -> dict:
    cells = spec.cells()
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-sweep-") as home:
        lab = Lab(Store(Path(home)), device=str(device))
        progress(0.0, "preparing the base model and the retrain oracle (not timed)")
        prepare(lab, cells)
        reference = None
        for i, (executor, workers) in enumerate(modes):
            if executor == "ray":
                try:
                    import ray  # noqa: F401
                except ImportError:
                    rows.append({"executor": executor, "workers": workers, "seconds": None,
                                 "note": "ray not installed"})
                    continue
            for cell in cells:
                lab.store.delete_run(cell.run_id)
            progress(0.1 + 0.9 * i / len(modes), f"{executor} with {workers} worker(s)")
            start = time.perf_counter()
            result = run_sweep(spec, executor=executor, workers=workers, lab=lab, device=str(device))
            seconds = time.perf_counter() - start
            stored = {c.key: lab.store.get_run(c.run_id) for c in cells if lab.store.run_row(c.run_id) is not None}
            metrics = {key: _metrics_without_timing(record.get("metrics")) for key, record in stored.items()}
            reference = reference or metrics
            unfinished = [{"cell": c.label, "status": c.status, "message": c.message} for c in result.cells
                          if c.status != "ok"]
            rows.append({"executor": executor, "workers": workers, "seconds": seconds,
                         "ok": sum(c.status == "ok" for c in result.cells), "identical": metrics == reference,
                         "differences": _differences(cells, reference, metrics), "unfinished": unfinished,
                         "threads_per_worker": result.executor.get("threads_per_worker"),
                         "mean_unlearn_seconds": (sum(r["seconds"] or 0.0 for r in stored.values()) / len(stored))
                         if stored else None})
    baseline = rows[0]["seconds"]
    for row in rows:
        row["ratio"] = None if row["seconds"] is None else row["seconds"] / baseline
        row["speedup"] = None if row["seconds"] is None else baseline / row["seconds"]
    return {"description": f"{len(cells)}-cell sweep ({spec.title})", "cells": len(cells),
            "load_before": list(load_before), "load_after": list(os.getloadavg()), "rows": rows}


def sweep_markdown(result: dict) -> str:
    lines = [f"# Benchmark: sweep executors ({result['created']})", "",
             f"{result['device']}, {result['cores']} usable cores, load average {result['load_before'][0]:.1f} "
             f"before and {result['load_after'][0]:.1f} after (other processes share these cores)."]
    for sweep in result["sweeps"]:
        lines += ["", f"## {sweep['description']}", ""]
        if sweep.get("skipped"):
            lines.append(f"Not run: {sweep['skipped']}.")
            continue
        lines += [f"Load average {sweep['load_before'][0]:.1f} before, {sweep['load_after'][0]:.1f} after.", "",
                  "| executor | workers | threads/worker | wall time (s) | ratio to sequential | speed-up | mean "
                  "unlearn s per cell | metrics identical |", "|---|---|---|---|---|---|---|---|"]
        for r in sweep["rows"]:
            if r["seconds"] is None:
                lines.append(f"| {r['executor']} | {r['workers']} | | — | — | — | — | {r.get('note', '')} |")
                continue
            mean = "–" if r["mean_unlearn_seconds"] is None else f"{r['mean_unlearn_seconds']:.1f}"
            lines.append(f"| {r['executor']} | {r['workers']} | {r['threads_per_worker']} | {r['seconds']:.1f} | "
                         f"{r['ratio']:.2f} | {r['speedup']:.2f}× | {mean} | {'yes' if r['identical'] else 'NO'} |")
        for r in sweep["rows"]:
            if r.get("unfinished"):
                lines += ["", f"Cells of {r['executor']} ({r['workers']} workers) that did not finish:", ""]
                lines += [f"- {u['cell']}: {u['status']} {u['message']}".rstrip() for u in r["unfinished"]]
            if r.get("differences"):
                lines += ["", f"Metrics of {r['executor']} ({r['workers']} workers) that differ from the sequential "
                          "run's (first ones):", ""]
                lines += [f"- {d['cell']}: `{d['metric']}` {_short(d['sequential'])} vs {_short(d['here'])}"
                          for d in r["differences"]]
    lines += ["", "Ratio = wall time / wall time of the sequential run (below 1 is faster). Each wall time includes "
              "starting the workers (a fork server for the pool, a Ray instance for Ray) and evaluating every cell; "
              "the base model and the retrain oracle were prepared once beforehand and are not included. With 2 "
              "cores the best possible ratio for 2 workers is 0.5, and only when nothing else runs on the machine: "
              "the load averages say how much of the 2 cores other work took. A ratio above 1 for one "
              "worker is the price of a separate process (starting it, importing torch, loading the models): it "
              "weighs on light cells and fades on heavy ones. "
              "`mean unlearn s per cell` is the method's own time inside each cell (evaluation excluded): when "
              "it grows with the number of workers, the workers are competing for the same cores."]
    return "\n".join(lines) + "\n"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["BENCH_SWEEP", "HEAVY_SWEEP", "MODES", "run_sweep_bench", "sweep_markdown"]
