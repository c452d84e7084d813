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
    """`fashion_mnist · cnn · max_train=2000 · epochs=1 · seed 1 · forget class 3`: the dataset options and the
    training-recipe fields that differ from the default recipe of (dataset, arch), the seed always, an imported
    model by its key, and hand-picked images by their first indices, so two scenarios never share a label."""
    spec = forget if isinstance(forget, ForgetSpec) else ForgetSpec.from_dict(dict(forget))
    parts = [str(experiment.get("dataset", "?")), str(experiment.get("arch", "?"))]
    options = experiment.get("dataset_options") or {}
    parts += [f"{k}={format_value(v)}" for k, v in sorted(dict(options).items())]
    parts += [f"{k}={format_value(v)}" for k, v in recipe_differences(experiment).items()]
    parts.append(f"seed {experiment.get('seed') or 0}")
    if model_key and model_key.startswith("imported-"):
        parts.append(f"model {model_key}")
    return " · ".join(parts) + f" · forget {forget_label(spec)}"


def recipe_differences(experiment: Mapping[str, Any]) -> dict[str, Any]:
    """The training-recipe fields of an experiment dict that differ from its (dataset, arch) default recipe
    ({} when the dict holds no recipe or names an unknown architecture)."""
    from unlearn_core.models.training import default_recipe

    recipe = experiment.get("recipe")
    if not recipe:
        return {}
    default = default_recipe(str(experiment.get("dataset")), str(experiment.get("arch"))).to_dict()
    return {k: v for k, v in sorted(dict(recipe).items()) if k in default and v != default[k]}


def forget_label(spec: ForgetSpec, shown: int = 3) -> str:
    """ForgetSpec.describe with hand-picked images named by their first indices (`4 chosen images #2, #9, #31
    +1`), so two different picks of the same size read differently."""
    text = spec.describe()
    if spec.indices:
        first = ", ".join(f"#{i}" for i in sorted(spec.indices)[:shown])
        more = f" +{len(spec.indices) - shown}" if len(spec.indices) > shown else ""
        count = f"{len(spec.indices)} chosen image" + ("s" if len(spec.indices) > 1 else "")
        text = text.replace(count, f"{count} {first}{more}", 1)
    return text


def model_label(meta: Mapping[str, Any], key: str) -> str:
    """A stored model as a list entry: `fashion_mnist · cnn_flat · epochs=1 · seed 0 · test 87% (base-3f2a…)`,
    with the same option, recipe and seed parts as scenario labels."""
    experiment = meta.get("spec") or {}
    parts = [str(experiment.get("dataset", meta.get("dataset", "?"))), str(experiment.get("arch", meta.get("arch")))]
    parts += [f"{k}={format_value(v)}" for k, v in sorted(dict(experiment.get("dataset_options") or {}).items())]
    if meta.get("kind") != "imported":
        parts += [f"{k}={format_value(v)}" for k, v in recipe_differences(experiment).items()]
    parts.append(f"seed {experiment.get('seed') or 0}")
    if meta.get("kind") == "imported":
        parts.append(f"imported from {meta.get('source')}")
    if meta.get("test_acc") is not None:
        parts.append(f"test {float(meta['test_acc']):.0%}")
    return " · ".join(parts) + f" ({key})"
