"""Multi-seed comparisons: the same comparison over N seeds, summarised as mean and spread per method.

Seed s trains (or reuses) the base model of `spec` with seed s and runs every method with seed s, so the
spread covers both the original model's training noise and the method's own randomness (Unlearn-Sparse#10's
"large variance in class forgetting"). The forget set is the same for every seed (a random forget fraction
keeps its own seed). `original` and `retrain` appear as methods, so their spread is shown too.

Schema of `compare_over_seeds(...)`:
    {"seeds": [s...], "methods": [names in order], "metrics": [keys],
     "per_seed": [{"seed", "runs": [{"method", "status", "error", "run_id", "values": {metric: float}}],
                   "skipped": [...]}],
     "table": [{"method", "metric", "mean", "std", "n", "values"}]}   # std: sample std (0 for one value)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec

Progress = Callable[[float, str], None]

SEED_METRICS = ("forget_acc", "retain_acc", "test_acc", "test_acc_forget_classes", "test_acc_retain_classes",
                "mia_efficacy", "mia_loss_auc", "avg_gap", "changed_fraction", "seconds")
# scalars of the privacy bundle, flattened under these names
PRIVACY_SCALARS = {"svc_entropy": ("attacks", "svc_entropy"),
                   "threshold_privacy_score": ("attacks", "threshold", "privacy_score")}


def _quiet(fraction: float, message: str) -> None:
    return None


def scalar_values(metrics: dict | None) -> dict[str, float]:
    """The finite scalar metrics of one run (SEED_METRICS plus the privacy scalars)."""
    if not metrics:
        return {}
    out = {}
    for key in SEED_METRICS:
        value = metrics.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            out[key] = float(value)
    for name, path in PRIVACY_SCALARS.items():
        node: Any = metrics.get("privacy")
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float) and math.isfinite(node):
            out[name] = float(node)
    return out


def aggregate(per_seed: list[dict]) -> list[dict]:
    """Mean and sample standard deviation per (method, metric) over the seeds where the run succeeded."""
    values: dict[tuple[str, str], list[float]] = {}
    for entry in per_seed:
        for run in entry["runs"]:
            for metric, value in run["values"].items():
                values.setdefault((run["method"], metric), []).append(value)
    rows = []
    for (method, metric), vals in values.items():
        arr = np.asarray(vals, dtype=np.float64)
        rows.append({"method": method, "metric": metric, "mean": float(arr.mean()),
                     "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": len(arr), "values": vals})
    return rows


def compare_over_seeds(lab, spec, forget: ForgetSpec, methods: list[str] | str, params: dict | None = None,
                       seeds: list[int] | tuple[int, ...] = (0, 1, 2), *, progress: Progress = _quiet,
                       stop: threading.Event | None = None) -> dict:
    """Runs `lab.compare` once per seed and aggregates (see the module docstring for the schema)."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserInputError("give at least one seed, without repeats")
    per_seed: list[dict] = []
    order: list[str] = []
    for i, seed in enumerate(seeds):
        def scaled(fraction: float, message: str, i: int = i, seed: int = seed) -> None:
            progress((i + fraction) / len(seeds), f"seed {seed}: {message}")

        result = lab.compare(replace(spec, seed=seed), forget, methods, params, seed=seed, progress=scaled,
                             stop=stop)
        runs = [{"method": r["method"], "status": r.get("status"), "error": r.get("error"),
                 "run_id": r.get("run_id"), "values": scalar_values(r.get("metrics"))} for r in result["runs"]]
        order.extend(r["method"] for r in runs if r["method"] not in order)
        per_seed.append({"seed": seed, "runs": runs, "skipped": result.get("skipped", [])})
    progress(1.0, "done")
    table = aggregate(per_seed)
    metrics = [m for m in (*SEED_METRICS, *PRIVACY_SCALARS) if any(row["metric"] == m for row in table)]
    return {"seeds": seeds, "methods": order, "metrics": metrics, "per_seed": per_seed, "table": table}
