"""Multi-seed comparisons: the same comparison over N seeds, summarised as mean and spread per method.

Seed s trains (or reuses) the base model of `spec` with seed s and runs every method with seed s, so the
spread covers both the original model's training noise and the method's own randomness (Unlearn-Sparse#10's
"large variance in class forgetting"). The forget set is the same for every seed (a random forget fraction
keeps its own seed). `original` and `retrain` appear as methods, so their spread is shown too. The summary
statistics are in unlearn_core.metrics.seeds.

Schema of `compare_over_seeds(...)`:
    {"seeds": [s...], "methods": [names in order], "metrics": [keys],
     "per_seed": [{"seed", "runs": [{"method", "status", "error", "run_id", "values": {metric: float}}],
                   "skipped": [...]}],
     "table": [{"method", "metric", "mean", "std", "n", "values"}]}   # std: sample std (0 for one value)
"""

from __future__ import annotations

import threading
from dataclasses import replace

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.metrics.seeds import PRIVACY_SCALARS, SEED_METRICS, aggregate, scalar_values
from unlearn_core.progress import Progress, quiet


def compare_over_seeds(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, methods: list[str] | str,
                       params: dict | None = None, seeds: list[int] | tuple[int, ...] = (0, 1, 2), *,
                       progress: Progress = quiet,
                       stop: threading.Event | None = None) -> dict:
    """Runs `lab.compare` once per seed and aggregates (see the module docstring for the schema)."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserInputError("give at least one seed, without repeats")
    per_seed: list[dict] = []
    order: list[str] = []
    for i, seed in enumerate(seeds):
        def for_seed(fraction: float, message: str, i: int = i, seed: int = seed) -> None:
            progress((i + fraction) / len(seeds), f"seed {seed}: {message}")

        result = lab.compare(replace(spec, seed=seed), forget, methods, params, seed=seed, progress=for_seed,
                             stop=stop)
        runs = [{"method": r["method"], "status": r.get("status"), "error": r.get("error"),
                 "run_id": r.get("run_id"), "values": scalar_values(r.get("metrics"))} for r in result["runs"]]
        order.extend(r["method"] for r in runs if r["method"] not in order)
        per_seed.append({"seed": seed, "runs": runs, "skipped": result.get("skipped", [])})
    progress(1.0, "done")
    table = aggregate(per_seed)
    metrics = [m for m in (*SEED_METRICS, *PRIVACY_SCALARS) if any(row["metric"] == m for row in table)]
    return {"seeds": seeds, "methods": order, "metrics": metrics, "per_seed": per_seed, "table": table}
