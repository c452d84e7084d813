"""The names runs and scenarios go by, the same on every dashboard page and in the report.

A run is named after its method; a run whose parameters differ from the method's defaults is a *variant* and
carries what differs, `semu (tau=0.99)`; two runs with the same method and parameters are told apart by
their order of creation (`slug #2` is the later one). A scenario is named by its dataset, architecture, the
dataset options and seed that are not the defaults, and its forget set, so two subsets of one dataset never
share a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from unlearn_core.data import ForgetSpec

REFERENCES = ("original", "retrain")


def format_value(value: Any) -> str:
    """A parameter value as it reads in a label: floats with 4 significant digits, strings bare."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def method_defaults(method: str) -> dict[str, Any]:
    """The defaults of a registered method's config ({} for an unknown method, e.g. one no longer built)."""
    from unlearn_core.methods import METHODS

    if method not in METHODS.names():
        return {}
    return {spec.name: spec.default for spec in METHODS.get(method).Config.params()}


def variant_qualifier(method: str, params: Mapping[str, Any] | None) -> str:
    """`tau=0.99, epochs=5`: the parameters of a run that differ from its method's defaults, by name."""
    defaults = method_defaults(method)
    changed = [(k, v) for k, v in sorted((params or {}).items()) if k in defaults and v != defaults[k]]
    return ", ".join(f"{k}={format_value(v)}" for k, v in changed)


def variant_label(method: str, params: Mapping[str, Any] | None) -> str:
    """`semu` for a run with the defaults, `semu (tau=0.99)` for a variant."""
    qualifier = variant_qualifier(method, params)
    return f"{method} ({qualifier})" if qualifier else method


def run_labels(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """{run id: label} for runs of one scenario; `records` (run records or index rows) hold `run_id` (or `id`),
    `method`, `params` and `created`.

    Labels do not depend on which other runs are shown beside them, except that identical runs are numbered
    by creation time, oldest first, among those given.
    """
    ordered = sorted(records, key=lambda r: (_created(r), _run_id(r)))
    counts: dict[str, int] = {}
    labels = {}
    for record in ordered:
        label = variant_label(record["method"], record.get("params"))
        counts[label] = counts.get(label, 0) + 1
        labels[_run_id(record)] = label if counts[label] == 1 else f"{label} #{counts[label]}"
    return labels


def _created(record: Mapping[str, Any]) -> float:
    """Creation time as a number (records store it as a float, some readers as its string)."""
    try:
        return float(record.get("created") or 0)
    except (TypeError, ValueError):
        return 0.0


def _run_id(record: Mapping[str, Any]) -> str:
    return str(record.get("run_id") or record["id"])


def scenario_label(experiment: Mapping[str, Any], forget: Mapping[str, Any] | ForgetSpec,
                   model_key: str | None = None) -> str:
    """`fashion_mnist · cnn · n_train=2000 · seed 1 · forget class 3`; an imported model by its key."""
    spec = forget if isinstance(forget, ForgetSpec) else ForgetSpec.from_dict(dict(forget))
    parts = [str(experiment.get("dataset", "?")), str(experiment.get("arch", "?"))]
    options = experiment.get("dataset_options") or {}
    parts += [f"{k}={format_value(v)}" for k, v in sorted(dict(options).items())]
    if int(experiment.get("seed") or 0):
        parts.append(f"seed {experiment['seed']}")
    if model_key and model_key.startswith("imported-"):
        parts.append(f"model {model_key}")
    return " · ".join(parts) + f" · forget {spec.describe()}"
