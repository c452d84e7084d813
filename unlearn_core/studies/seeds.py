"""Multi-seed comparisons: the same comparison over N seeds, summarised as mean and spread per method.

Seed s trains (or reuses) the base model of `spec` with seed s and runs every method with seed s, so the
spread covers both the original model's training noise and the method's own randomness (Unlearn-Sparse#10's
"large variance in class forgetting"). The forget set is the same for every seed (a random forget fraction
keeps its own seed). `original` and `retrain` appear as methods, so their spread is shown too. The summary
statistics are in unlearn_core.metrics.seeds.

The comparison is a multi-seed sweep (`SweepSpec.multi_seed`): every (method, seed) is one cell, an ordinary
stored run under its cell id, run on any executor (sequential by default), resumable and cancellable; the
original and the retrain oracle come from each seed's runs as in `Lab.compare`.

Schema of `compare_over_seeds(...)`:
    {"seeds": [s...], "methods": [names in order], "metrics": [keys],
     "per_seed": [{"seed", "runs": [{"method", "status", "error", "run_id", "values": {metric: float}}],
                   "skipped": [...]}],
     "table": [{"method", "metric", "mean", "std", "n", "values"}]}   # std: sample std (0 for one value)
"""

from __future__ import annotations

import threading

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import get_method, list_methods
from unlearn_core.metrics.seeds import PRIVACY_SCALARS, SEED_METRICS, aggregate, scalar_values
from unlearn_core.progress import Progress, quiet
from unlearn_core.studies.sweep import MethodGrid, SweepSpec, run_sweep


def seeds_spec(spec: ExperimentSpec, forget: ForgetSpec, methods: list[str] | str, params: dict | None,
               seeds: list[int]) -> SweepSpec:
    """The comparison's sweep: each method with its parameters (one value each) over the seeds."""
    names = list_methods() if methods == "all" else list(methods)
    for name in names:
        get_method(name)  # unknown names fail before any work
    grids = [MethodGrid.of(name, **{k: [v] for k, v in ((params or {}).get(name) or {}).items()}) for name in names]
    return SweepSpec.multi_seed(spec, forget, grids, seeds)


def compare_over_seeds(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, methods: list[str] | str,
                       params: dict | None = None, seeds: list[int] | tuple[int, ...] = (0, 1, 2), *,
                       progress: Progress = quiet, stop: threading.Event | None = None,
                       executor: str = "sequential", workers: int | None = None) -> dict:
    """Runs the comparison's sweep on `executor` and aggregates (see the module docstring for the schema)."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserInputError("give at least one seed, without repeats")
    sweep = seeds_spec(spec, forget, methods, params, seeds)
    result = run_sweep(sweep, executor=executor, workers=workers, lab=lab, progress=progress, stop=stop)
    skipped = [{"method": s.method, "reason": s.reason} for s in result.skipped]
    by_seed: dict[int, list] = {seed: [] for seed in seeds}
    for cell in sweep.cells():
        if lab.store.run_statuses([cell.run_id]):
            by_seed[cell.seed].append(lab.store.get_run(cell.run_id))
    per_seed: list[dict] = []
    order: list[str] = []
    for seed in seeds:
        records = by_seed[seed]
        if not records:
            continue
        first = records[0]
        # a stored retrain run is the oracle itself: it stands in for the reference row (as in Lab.compare)
        retrain_run = next((r for r in records if r["method"] == "retrain" and r["status"] == "ok"), None)
        reference = [{"method": "original", "status": "ok", "metrics": first["original"]},
                     retrain_run or {"method": "retrain", "status": "ok", "metrics": first["retrain"]}]
        runs = [{"method": r["method"], "status": r.get("status"), "error": r.get("error"),
                 "run_id": r.get("run_id"), "values": scalar_values(r.get("metrics"))}
                for r in reference + [r for r in records if r is not retrain_run]]
        order.extend(r["method"] for r in runs if r["method"] not in order)
        per_seed.append({"seed": seed, "runs": runs, "skipped": skipped})
    progress(1.0, "done" if result.status == "finished" else "cancelled")
    table = aggregate(per_seed)
    metrics = [m for m in (*SEED_METRICS, *PRIVACY_SCALARS) if any(row["metric"] == m for row in table)]
    return {"seeds": [p["seed"] for p in per_seed], "methods": order, "metrics": metrics, "per_seed": per_seed,
            "table": table}
