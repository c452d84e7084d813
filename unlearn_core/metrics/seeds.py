"""Multi-seed summaries: per-run scalar metrics and their mean and spread per method over seeds.

Running the comparison once per seed is a study above the Lab (unlearn_core.studies.seeds.compare_over_seeds);
this module holds the summary statistics it applies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SEED_METRICS = ("forget_acc", "retain_acc", "test_acc", "test_acc_forget_classes", "test_acc_retain_classes",
                "mia_efficacy", "mia_loss_auc", "avg_gap", "changed_fraction", "seconds")
# scalars of the privacy bundle, flattened under these names
PRIVACY_SCALARS = {"svc_entropy": ("attacks", "svc_entropy"),
                   "threshold_privacy_score": ("attacks", "threshold", "privacy_score")}



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
