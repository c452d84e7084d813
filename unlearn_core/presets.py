"""Reproducible presets: named scenarios (data, model, forget set, methods) run through `Lab.compare`, plus
re-running any stored run from its record.

Built-in presets:
    teaching-demo      digits, small CNN, forget class 3, every seed method and the retrain oracle
    random-10          SalUn's random-forgetting protocol (10% of the training set, seed 0) on the chosen data
    cifar10-resnet18   CIFAR-10 class-wise (class 0, as in the mnemonic-code paper's table), ResNet-18; offered
                       only when the CIFAR-10 files are in the data folder
    fmnist-class       Fashion-MNIST (official 60k/10k), CNN with a flattened head, forget class 7 (sneaker)
    fmnist-random-10   Fashion-MNIST, SalUn's random 10 % protocol
    fmnist-50-images   Fashion-MNIST, 50 fixed training images (a deletion request naming individual images)
    (the three Fashion-MNIST presets are offered when the files are found: Debian's dataset-fashion-mnist
    package, or torchvision's layout in the data folder)

User presets are JSON files `<UNLEARN_HOME>/presets/<name>.json` holding `Preset.to_dict()`; `preset_from_runs`
builds one from stored runs of one scenario (their methods with the exact parameters they ran with).

A run re-runs from its stored record or from any JSON holding at least `experiment`, `forget`, `method`,
`params` and `seed` (the record itself, `result.json`, the report's JSON export); `rerun` gives the same
metrics on the same device, `metric_differences` says which ones differ if not.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unlearn_core import UserInputError, validation
from unlearn_core.data import ForgetSpec
from unlearn_core.data.torchvision_sets import missing_files_reason
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import get_method, list_methods
from unlearn_core.progress import Progress, quiet
from unlearn_core.results import RunRecord
from unlearn_core.store import workspace_root

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RESERVED_NAMES = ("save", "delete", "list")  # words of the `unlearn preset` command
# CIFAR-10's official python batches, as unlearn_core.data.torchvision_sets reads them
# SalUn's random-forgetting table (Fan et al., ICLR 2024): retrain, FT, GA, RL, l1-sparse, SalUn; SEMU and SLUG
# report on the same protocol
RANDOM_PROTOCOL_METHODS = ("retrain", "finetune", "gradient_ascent", "random_label", "l1_sparse", "salun", "semu",
                           "slug")
# 50 training images of the official Fashion-MNIST order, drawn once with numpy.random.default_rng(0) and fixed
# here: a deletion request names images, it does not re-draw them
FMNIST_PICKED_IMAGES = (
    164, 321, 497, 990, 1325, 1698, 2014, 2456, 4511, 4822, 5355, 7456, 10508, 10536, 15437, 16174, 16632, 17979,
    18455, 23639, 24190, 25357, 28858, 30198, 30644, 31535, 32480, 32600, 33246, 33577, 36376, 36923, 37915, 38187,
    38830, 38939, 40234, 43744, 43764, 45877, 48763, 48928, 50778, 50995, 51423, 51776, 54730, 56076, 58210, 59995,
)
FMNIST_COST = ("The full official data (60,000 training images): on two CPU cores the base model and each retrain "
               "oracle take tens of minutes (benchmarks/fmnist-cnn.md); minutes on a GPU.")



@dataclass(frozen=True)
class Preset:
    """A named, reproducible scenario: what `unlearn preset NAME` and the Report page run."""

    name: str
    title: str
    description: str
    experiment: dict  # ExperimentSpec.to_dict() or a partial one (dataset, arch, seed): the recipe defaults
    forget: dict  # ForgetSpec.to_dict()
    methods: tuple[str, ...]
    params: dict[str, dict] = field(default_factory=dict)  # method -> parameter values
    source: str = "built-in"  # "built-in" or "user"
    dataset_choice: bool = False  # the dataset may be swapped (same protocol on other data)

    def spec(self) -> ExperimentSpec:
        return ExperimentSpec.from_dict(self.experiment)

    def forget_spec(self) -> ForgetSpec:
        return ForgetSpec.from_dict(self.forget)

    def on_dataset(self, dataset: str | None) -> Preset:
        """The same preset on another dataset (its default recipe), where the preset allows it."""
        if not dataset or dataset == self.experiment.get("dataset"):
            return self
        if not self.dataset_choice:
            raise UserInputError(f"preset {self.name!r} is tied to {self.experiment.get('dataset')}; "
                                 "its dataset cannot be changed")
        experiment = {k: v for k, v in self.experiment.items() if k not in ("recipe", "dataset_options")}
        return replace(self, experiment={**experiment, "dataset": dataset})

    def unavailable(self) -> str | None:
        """None when the preset can run here, else a one-line reason (e.g. its data files are missing)."""
        missing = missing_files_reason(str(self.experiment.get("dataset")), self.experiment.get("dataset_options"))
        if missing:
            return missing
        unknown = [m for m in self.methods if m not in list_methods()]
        if unknown:
            return f"names methods this build does not have: {', '.join(unknown)}"
        return None

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description,
                "experiment": self.experiment, "forget": self.forget, "methods": list(self.methods),
                "params": self.params, "dataset_choice": self.dataset_choice}

    @classmethod
    def from_dict(cls, data: dict, source: str = "user") -> Preset:
        data = validation.mapping(data, "preset")
        missing = [k for k in ("name", "experiment", "forget", "methods") if k not in data]
        if missing:
            raise UserInputError(f"not a preset: it has no {', '.join(missing)}")
        methods = data["methods"]
        if not isinstance(methods, list) or len(methods) > 100:
            raise UserInputError("preset methods must be a list of at most 100 method names")
        params = validation.mapping(data.get("params") or {}, "preset params")
        preset = cls(name=validation.text(data["name"], "preset name", max_chars=64),
                     title=validation.text(data.get("title") or data["name"], "preset title", max_chars=200),
                     description=validation.text(data.get("description", ""), "preset description",
                                                 max_chars=2000, allow_empty=True),
                     experiment=validation.mapping(data["experiment"], "preset experiment"),
                     forget=validation.mapping(data["forget"], "preset forget set"),
                     methods=tuple(validation.text(m, "preset method", max_chars=64) for m in methods),
                     params={k: validation.mapping(v, f"preset params of {k}") for k, v in params.items()},
                     source=source,
                     dataset_choice=validation.boolean(data.get("dataset_choice", False), "dataset_choice"))
        check_name(preset.name)
        ExperimentSpec.from_dict(preset.experiment)
        ForgetSpec.from_dict(preset.forget)
        if not preset.methods:
            raise UserInputError(f"preset {preset.name!r} lists no methods")
        return preset


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserInputError(f"preset name {name!r} must be 1-64 lower-case letters, digits, '-' or '_', "
                             "starting with a letter or digit")
    if name in RESERVED_NAMES:
        raise UserInputError(f"{name!r} is a word of the `unlearn preset` command; choose another name")
    return name


def builtin_presets() -> list[Preset]:
    seed_methods = tuple(list_methods("seed"))
    return [
        Preset("teaching-demo", "Teaching demo",
               "Digits (8×8), small CNN, forget class 3 with every seed method, beside the retrain oracle. "
               "A few minutes on a laptop CPU.",
               {"dataset": "digits", "arch": "cnn", "seed": 0}, ForgetSpec(classes=(3,)).to_dict(),
               (*seed_methods, "retrain")),
        Preset("random-10", "Random 10%",
               "SalUn's random-forgetting protocol: a seeded random 10% of the training set, with the methods of "
               "SalUn's table (fine-tune, gradient ascent, random labels, l1-sparse, SalUn) and SEMU and SLUG. "
               "Pick the dataset; methods that do not support random forgetting are skipped with the reason.",
               {"dataset": "digits", "arch": "cnn", "seed": 0}, ForgetSpec(random_fraction=0.1, seed=0).to_dict(),
               RANDOM_PROTOCOL_METHODS, dataset_choice=True),
        Preset("cifar10-resnet18", "CIFAR-10 class-wise, ResNet-18",
               "CIFAR-10, ResNet-18 (30-epoch SGD recipe), forget class 0 (airplane) with every seed method, "
               "SalUn, random labels and the retrain oracle. Meant for a GPU; needs the CIFAR-10 files locally.",
               {"dataset": "cifar10", "arch": "resnet18", "seed": 0}, ForgetSpec(classes=(0,)).to_dict(),
               (*seed_methods, "salun", "random_label", "retrain")),
        Preset("fmnist-class", "Fashion-MNIST: forget a class",
               "Fashion-MNIST, the CNN with a flattened head (Adam, cosine, 10 epochs), forget class 7 (sneaker) with "
               "every seed method, SalUn, random labels, SCRUB, SSD and the retrain oracle. " + FMNIST_COST,
               {"dataset": "fashion_mnist", "arch": "cnn_flat", "seed": 0}, ForgetSpec(classes=(7,)).to_dict(),
               (*seed_methods, "salun", "random_label", "scrub", "ssd", "retrain")),
        Preset("fmnist-random-10", "Fashion-MNIST: random 10 %",
               "SalUn's random-forgetting protocol on Fashion-MNIST: a seeded random 10 % (6,000 images) of the "
               "training set; the CNN memorises part of its training set (train accuracy above test), which is what "
               "random forgetting and the attacks work on. " + FMNIST_COST,
               {"dataset": "fashion_mnist", "arch": "cnn_flat", "seed": 0},
               ForgetSpec(random_fraction=0.1, seed=0).to_dict(), RANDOM_PROTOCOL_METHODS),
        Preset("fmnist-50-images", "Fashion-MNIST: 50 hand-picked images",
               "Fashion-MNIST, the CNN with a flattened head, forget 50 fixed training images spread over the classes, "
               "as a deletion request naming individual images would. " + FMNIST_COST,
               {"dataset": "fashion_mnist", "arch": "cnn_flat", "seed": 0},
               ForgetSpec(indices=FMNIST_PICKED_IMAGES).to_dict(), RANDOM_PROTOCOL_METHODS),
    ]


def presets_dir(root: Path | None = None) -> Path:
    return (root or workspace_root()) / "presets"


def user_presets(root: Path | None = None) -> tuple[list[Preset], list[str]]:
    """Saved presets, and one line per file that could not be read (never raised: one bad file must not hide
    the others)."""
    presets, problems = [], []
    folder = presets_dir(root)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            presets.append(Preset.from_dict(validation.read_json_file(path, "preset file"), source="user"))
        except UserInputError as exc:
            problems.append(f"{path.name}: {exc}")
    return presets, problems


def all_presets(root: Path | None = None) -> list[Preset]:
    """Built-in presets first, then saved ones (a saved preset cannot shadow a built-in name)."""
    builtin = builtin_presets()
    taken = {p.name for p in builtin}
    return builtin + [p for p in user_presets(root)[0] if p.name not in taken]


def get_preset(name: str, root: Path | None = None) -> Preset:
    for preset in all_presets(root):
        if preset.name == name:
            return preset
    known = ", ".join(p.name for p in all_presets(root))
    raise UserInputError(f"no preset named {name!r}; known presets: {known}")


def save_preset(preset: Preset, root: Path | None = None, overwrite: bool = False) -> Path:
    check_name(preset.name)
    if preset.name in {p.name for p in builtin_presets()}:
        raise UserInputError(f"{preset.name!r} is a built-in preset; choose another name")
    path = presets_dir(root) / f"{preset.name}.json"
    if path.exists() and not overwrite:
        raise UserInputError(f"a preset named {preset.name!r} already exists ({path}); choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(preset.to_dict(), indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def delete_preset(name: str, root: Path | None = None) -> None:
    path = presets_dir(root) / f"{check_name(name)}.json"
    if not path.is_file():
        raise UserInputError(f"no saved preset named {name!r}")
    path.unlink()


def preset_from_runs(lab: Lab, run_ids: list[str], name: str, title: str | None = None,
                     description: str | None = None) -> Preset:
    """A preset repeating stored runs of one scenario: their methods with the parameters they ran with, plus the
    retrain oracle."""
    check_name(name)
    records = [lab.run_record(r) for r in run_ids]
    if not records:
        raise UserInputError("name at least one run to save as a preset")
    for rec in records:
        if not rec.experiment:
            raise UserInputError(f"run {rec.run_id} has no stored configuration ({rec.status})")
    first = records[0]

    def scenario_of(rec: RunRecord) -> tuple[str, str]:
        return json.dumps(dict(rec.experiment), sort_keys=True), json.dumps(dict(rec.forget), sort_keys=True)

    for rec in records[1:]:
        if scenario_of(rec) != scenario_of(first):
            raise UserInputError(f"runs {first.run_id} and {rec.run_id} are of different scenarios (model or "
                                 "forget set); a preset holds one scenario")
    seeds = {int(rec.seed or 0) for rec in records}
    if len(seeds) > 1 or seeds != {int(first.experiment.get("seed", 0))}:
        raise UserInputError("a preset runs every method with the experiment's seed; these runs used "
                             f"seeds {sorted(seeds)}")
    methods: list[str] = []
    params: dict[str, dict] = {}
    for rec in records:
        if rec.method in params and params[rec.method] != dict(rec.params):
            raise UserInputError(f"two runs of {rec.method} with different parameters; save them separately")
        if rec.method not in methods:
            methods.append(rec.method)
        params[rec.method] = dict(rec.params)
    if "retrain" not in methods:
        methods.append("retrain")
    forget = first.forget_spec()
    text = description or (f"Saved from run{'s' if len(records) > 1 else ''} {', '.join(run_ids)}: "
                           f"{first.experiment['dataset']}, {first.experiment['arch']}, "
                           f"forget {forget.describe()}.")
    return Preset(check_name(name), title or name, text, dict(first.experiment), forget.to_dict(), tuple(methods),
                  {m: p for m, p in params.items() if m != "retrain"}, source="user")


def run_preset(lab: Lab, preset: Preset, progress: Progress = quiet, stop: threading.Event | None = None) -> dict:
    """Runs the preset through `Lab.compare` (same seed, same numbers); raises UserInputError when unavailable."""
    reason = preset.unavailable()
    if reason:
        raise UserInputError(f"preset {preset.name!r} cannot run here: it {reason}")
    spec = preset.spec()
    result = lab.compare(spec, preset.forget_spec(), list(preset.methods), preset.params or None,
                         seed=spec.seed, progress=progress, stop=stop)
    return {**result, "preset": preset.to_dict()}


# ---- reproduction ----------------------------------------------------------------------------------------
CONFIG_KEYS = ("experiment", "forget", "method", "params", "seed")


def run_config(record: dict) -> dict:
    """The part of a run record that determines its numbers (what `unlearn run --config` reads)."""
    missing = [k for k in CONFIG_KEYS if k not in record]
    if missing:
        raise UserInputError(f"not a run configuration: missing {', '.join(missing)}")
    return {k: record[k] for k in CONFIG_KEYS}


def rerun(lab: Lab, source: str | dict, progress: Progress = quiet, store_run: bool = True) -> dict:
    """Runs a stored run (by id) or a run configuration/record again; returns the new record."""
    record = lab.run_record(source).to_dict() if isinstance(source, str) else source
    config = run_config(record)
    get_method(config["method"])
    recorded_threads = (record.get("threads") or {}).get("threads")
    if recorded_threads and lab.threads is None:
        # sums split over another thread count round differently: re-run with the threads the run had
        lab = Lab(lab.store, str(lab.device), threads=int(recorded_threads))
    return lab.run(ExperimentSpec.from_dict(config["experiment"]), ForgetSpec.from_dict(config["forget"]),
                   config["method"], config["params"], seed=int(config["seed"]), progress=progress,
                   store_run=store_run)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): value}


def metric_differences(first: dict | None, second: dict | None, ignore: tuple[str, ...] = ("seconds",)) -> list[str]:
    """Dotted keys (nested privacy and verdict values included) whose values differ between two metric dicts;
    wall-clock keys are ignored. Floats must be equal, not close: a re-run on the same device is exact."""
    a, b = _flatten(first or {}), _flatten(second or {})

    def ignored(key: str) -> bool:
        return any(part in ignore for part in key.split("."))

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return x == y

    return sorted(k for k in set(a) | set(b) if not ignored(k) and not (k in a and k in b and same(a[k], b[k])))
