"""Sweeps: one frozen spec for grids of method parameters over forget sets and seeds, run cell by cell on an
executor (`unlearn_core.studies.executors`: in-process, a local process pool, or Ray).

    from unlearn_core.studies.sweep import LogRange, MethodGrid, SweepSpec, run_sweep

    spec = SweepSpec(
        experiment=ExperimentSpec("digits", "cnn"),
        forgets=(ForgetSpec(classes=(3,)),),
        methods=(MethodGrid.of("slug", search_steps=[5, 10, 20], forget_target=[0.0, 0.05]),
                 MethodGrid.of("finetune", lr=LogRange(1e-3, 1e-1, 3))),
        seeds=(0, 1, 2),
    )
    result = run_sweep(spec, executor="local", workers=2)   # or executor="ray", address="ray://head:10001"
    for row in result.rows(): ...                          # one row per cell: params, status, run id, metrics

A *cell* is one run: (experiment with its seed, forget set, method, full validated config, seed). Its key is a
hash of that content, and its run is stored under the run id `cell-<key>`, so
- a cell that already has a finished run (in any sweep) is never run again: a killed sweep resumes where it
  stopped, and two sweeps that share cells share their runs;
- each cell is one ordinary run record in the workspace (Compare, Report and `unlearn report` read it as such).

Seeds: with `seed_base=True` (the default) seed s trains (or reuses) the base model and the retrain oracle with
seed s and runs the method with seed s, so the spread over seeds covers training noise too (like
`studies.seeds.compare_over_seeds`); with `seed_base=False` every seed shares one base model and oracle and
only the method's own randomness varies. The probes that are sweeps underneath have constructors:
`SweepSpec.multi_seed(...)`, `SweepSpec.retrain_band(...)` (N retrain oracles of N seeds) and
`SweepSpec.ulira_shadows(...)` (U-LiRA's K shadow pairs, one cell each; `studies.ulira` runs the attack on them).

Base models, retrain oracles and their reference metrics are prepared once in the calling process, before
any cell fans out, and stored; workers load them from the workspace, so nothing is trained once per cell.
The spec is stored with its results (`Store.save_sweep`), so `sweep_rows(store, spec)` and the dashboard can
show any past sweep.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import statistics
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits, select_forget
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import get_method
from unlearn_core.methods.base import ParamSpec
from unlearn_core.metrics.seeds import scalar_values
from unlearn_core.progress import Progress, quiet

MAX_CELLS = 10_000  # a grid this large is a typo, not a plan
ORIGINAL = "original"  # the "method" of U-LiRA shadow cells that measure the original model (no unlearning)
SHADOW_RUN_METHOD = "ulira_shadow"  # the method column of a shadow cell's run, so no list mistakes it for a method run



def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- grids ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogRange:
    """`num` values spaced evenly in log scale from `low` to `high` (both included), for float parameters.

    Values are rounded to 6 significant digits, so LogRange(1e-4, 1e-1, 4) is exactly (1e-4, 1e-3, 1e-2, 0.1)."""

    low: float
    high: float
    num: int

    def values(self) -> tuple[float, ...]:
        if not (isinstance(self.num, int) and self.num >= 1):
            raise UserInputError(f"a log range needs at least 1 value, got num={self.num!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and 0 < self.low <= self.high):
            raise UserInputError(f"a log range needs 0 < low <= high, got {self.low}..{self.high}")
        if self.num == 1:
            return (float(f"{self.low:.6g}"),)
        ratio = math.log(self.high / self.low)
        return tuple(float(f"{self.low * math.exp(ratio * i / (self.num - 1)):.6g}") for i in range(self.num))

    def to_dict(self) -> dict:
        return {"log": [self.low, self.high, self.num]}


GridValues = tuple[Any, ...] | LogRange


def _grid_values_from(value: Any, name: str) -> GridValues:
    if isinstance(value, LogRange):
        return value
    if isinstance(value, Mapping) and set(value) == {"log"}:
        try:
            low, high, num = value["log"]
            return LogRange(float(low), float(high), int(num))
        except (TypeError, ValueError):
            raise UserInputError(f"grid {name}: a log range is {{\"log\": [low, high, num]}}, got {value!r}") from None
    if isinstance(value, list | tuple):
        return tuple(value)
    raise UserInputError(f"grid {name}: expected a list of values or {{\"log\": [low, high, num]}}, got {value!r}")


@dataclass(frozen=True)
class MethodGrid:
    """One method and the values to try for some of its config parameters (the others keep their defaults).

    `grid` is a tuple of (parameter, values) pairs, values a tuple or a LogRange; `MethodGrid.of` builds it
    from keyword lists. No grid means one cell with the method's defaults."""

    method: str
    grid: tuple[tuple[str, GridValues], ...] = ()

    @classmethod
    def of(cls, method: str, **grid: Any) -> MethodGrid:
        return cls(method, tuple(sorted((k, _grid_values_from(v, k)) for k, v in grid.items())))

    def param_specs(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in get_method(self.method).Config.params()}

    def expanded(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The grid with log ranges turned into their values, validated against the method's config."""
        specs = self.param_specs()
        out = []
        seen = set()
        for name, values in self.grid:
            if name not in specs:
                raise UserInputError(f"{self.method} has no parameter {name!r}; parameters: "
                                     f"{', '.join(specs) or 'none'}")
            if name in seen:
                raise UserInputError(f"grid for {self.method}: parameter {name} is given twice")
            seen.add(name)
            if isinstance(values, LogRange) and specs[name].type is not float:
                raise UserInputError(f"{self.method}.{name} is {specs[name].type.__name__}: log ranges are for "
                                     "float parameters; list its values instead")
            vals = values.values() if isinstance(values, LogRange) else tuple(values)
            if not vals:
                raise UserInputError(f"the grid for {self.method}.{name} is empty: give at least one value")
            config = get_method(self.method).Config
            typed = []
            for v in vals:
                try:
                    typed.append(getattr(config.from_values({name: v}), name))
                except UserInputError as exc:
                    raise UserInputError(f"grid {self.method}.{name}: {exc}") from None
            if len(set(map(repr, typed))) != len(typed):
                raise UserInputError(f"the grid for {self.method}.{name} repeats a value: {list(vals)}")
            out.append((name, tuple(typed)))
        return out

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values (one empty dict when there is no grid)."""
        grid = self.expanded()
        names = [n for n, _ in grid]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in grid))]

    def to_dict(self) -> dict:
        return {"method": self.method,
                "grid": {n: (v.to_dict() if isinstance(v, LogRange) else list(v)) for n, v in self.grid}}

    @classmethod
    def from_dict(cls, data: Mapping) -> MethodGrid:
        if not isinstance(data, Mapping) or not isinstance(data.get("method"), str):
            raise UserInputError(f"each entry of methods needs a method name, got {data!r}")
        grid = data.get("grid") or {}
        if not isinstance(grid, Mapping):
            raise UserInputError(f"grid of {data['method']} must map parameter names to value lists")
        return cls.of(data["method"], **grid)


# ---- cells ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepCell:
    """One run of a sweep. `params` holds only the grid's values; `config` the full validated config.

    A band cell (`retrain_seed` set, method `retrain`) is one retrain of the band: trained with `retrain_seed`
    on the retain set of `experiment`'s base model, evaluated against the oracle with evaluation seed `seed`.
    `model_key` runs the cell on a stored (imported) model instead of the one `experiment` trains.

    A shadow cell (`shadow_pair` k set) is pair k of U-LiRA's shadow models (`studies.ulira.run_shadow_pair`): a
    shadow original trained on the forget set plus a random half of the retain set, unlearned with `method` and
    `config` (none for method "original"), and a shadow retrained without the forget set; `experiment` is the
    base model whose recipe they use (already the method's artifact variant), `seed` the attacked run's seed,
    `shadow_epochs` shortens their training (None: the recipe's epochs)."""

    experiment: ExperimentSpec
    forget: ForgetSpec
    method: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    config: tuple[tuple[str, Any], ...]
    retrain_seed: int | None = None
    model_key: str | None = None
    shadow_pair: int | None = None
    shadow_epochs: int | None = None

    @property
    def key(self) -> str:
        # the optional fields count only when set, so cells stored before they existed keep their ids
        optional = {name: value for name, value in (("retrain_seed", self.retrain_seed),
                                                    ("model_key", self.model_key),
                                                    ("shadow_pair", self.shadow_pair),
                                                    ("shadow_epochs", self.shadow_epochs)) if value is not None}
        return _digest({"experiment": self.experiment.to_dict(), "forget": self.forget.to_dict(),
                        "method": self.method, "config": dict(self.config), "seed": self.seed, **optional})

    @property
    def run_id(self) -> str:
        """The id of this cell's run in the store: content-addressed, so a cell is stored at most once."""
        return f"cell-{self.key}"

    @property
    def is_band(self) -> bool:
        return self.retrain_seed is not None

    @property
    def is_shadow(self) -> bool:
        return self.shadow_pair is not None

    def label(self) -> str:
        if self.is_band:
            return f"band retrain (training seed {self.retrain_seed}) seed {self.seed}"
        if self.is_shadow:
            return f"U-LiRA shadow pair {self.shadow_pair + 1} ({self.method}) seed {self.seed}"
        grid = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.method}({grid}) seed {self.seed}" if grid else f"{self.method} seed {self.seed}"

    def to_dict(self) -> dict:
        return {"key": self.key, "run_id": self.run_id, "experiment": self.experiment.to_dict(),
                "forget": self.forget.to_dict(), "method": self.method, "params": dict(self.params),
                "seed": self.seed, "retrain_seed": self.retrain_seed, "model_key": self.model_key,
                **({"shadow_pair": self.shadow_pair, "shadow_epochs": self.shadow_epochs} if self.is_shadow else {})}


# ---- the spec ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepSpec:
    """Base experiment, forget set(s), methods with a grid each, and seeds; its cells are their product.

    `band` K > 0 adds, per (forget set, seed, base model the methods run on), the K band cells of the retrain
    band (`studies.band`): retrains with training seeds base seed + 1 ... + K, evaluated at that seed. When they
    all finish, the sweep stores the band, and every run of that base model's oracle gets a calibrated verdict
    (`Lab.calibrated`). With `band` set, `methods` may be empty (the band alone). `model_key` runs every cell on a
    stored (imported) model; `experiment` is then that model's spec.

    `ulira` K > 0 makes it a sweep of U-LiRA shadows (`studies.ulira`): instead of each method cell (method,
    config, forget set, seed), its K shadow-pair cells, pairs 0..K-1, trained with `shadow_epochs` (None: the base
    recipe's); with no methods, the shadows of method "original" (the original model's exposure). The runs they
    attack are not part of it (they exist already, or come from a sweep of their own); band cells still are. A
    larger K reuses the smaller K's pairs."""

    experiment: ExperimentSpec = field(default_factory=ExperimentSpec)
    forgets: tuple[ForgetSpec, ...] = ()
    methods: tuple[MethodGrid, ...] = ()
    seeds: tuple[int, ...] = (0,)
    seed_base: bool = True  # seeds also retrain the base model and oracle (see the module docstring)
    title: str = ""
    band: int = 0
    model_key: str | None = None
    ulira: int = 0
    shadow_epochs: int | None = None

    @classmethod
    def multi_seed(cls, experiment: ExperimentSpec, forget: ForgetSpec, methods: Iterable[str | MethodGrid],
                   seeds: Iterable[int] = (0, 1, 2), band: int = 0) -> SweepSpec:
        """Each method (a name: its defaults) over several seeds (mean and spread per method); `band` K also
        trains each seed's retrain band, so every run's verdict is calibrated."""
        grids = tuple(m if isinstance(m, MethodGrid) else MethodGrid(m) for m in methods)
        return cls(experiment, (forget,), grids, tuple(seeds), title="multi-seed comparison", band=band)

    @classmethod
    def retrain_band(cls, experiment: ExperimentSpec, forget: ForgetSpec, k: int, seed: int | None = None,
                     model_key: str | None = None) -> SweepSpec:
        """The retrain band alone: K retrains of `experiment`'s base model on `forget`, evaluated with `seed`
        (default: the experiment's seed), the base model and oracle shared (see `studies.band`)."""
        seed = experiment.seed if seed is None else seed
        return cls(experiment, (forget,), (), (int(seed),), seed_base=False, title="retrain band", band=k,
                   model_key=model_key)

    @classmethod
    def ulira_shadows(cls, experiment: ExperimentSpec, forget: ForgetSpec, method: str, params: Mapping | None,
                      pairs: int, seed: int = 0, shadow_epochs: int | None = None,
                      model_key: str | None = None) -> SweepSpec:
        """U-LiRA's K shadow pairs for a run of `method` with `params` (its full config or a part of it; method
        "original": no unlearning) on `experiment`'s base model (the run's artifact variant), seed `seed`."""
        methods = () if method == ORIGINAL else (
            # each value in a one-element list: a parameter whose value is itself a list is not a grid
            MethodGrid.of(method, **{name: [value] for name, value in (params or {}).items()}),)
        return cls(experiment, (forget,), methods, (int(seed),), seed_base=False, title="U-LiRA shadows",
                   model_key=model_key, ulira=pairs, shadow_epochs=shadow_epochs)

    def validated(self) -> SweepSpec:
        """The spec with its experiment resolved; raises UserInputError (one line) on any bad field."""
        if not isinstance(self.experiment, ExperimentSpec):
            raise UserInputError("a sweep needs an experiment (dataset, architecture, recipe)")
        experiment = self.experiment.resolved()
        if not self.forgets:
            raise UserInputError("a sweep needs at least one forget set")
        for forget in self.forgets:
            if not (forget.classes or forget.indices or forget.random_fraction is not None):
                raise UserInputError("a forget set of the sweep is empty: give classes, indices or a random fraction")
        from unlearn_core.metrics.ulira import ULiRAConfig
        from unlearn_core.studies.band import check_k

        if self.band:
            check_k(self.band)
        if isinstance(self.ulira, bool) or not isinstance(self.ulira, int) or self.ulira < 0:
            raise UserInputError(f"ulira is the number of U-LiRA shadow pairs (an integer), got {self.ulira!r}")
        if self.ulira:
            ULiRAConfig(shadow_pairs=self.ulira, shadow_epochs=self.shadow_epochs).validate()
        elif self.shadow_epochs is not None:
            raise UserInputError("shadow_epochs is for U-LiRA shadows: set ulira to the number of shadow pairs")
        if not self.methods and not self.band and not self.ulira:
            raise UserInputError("a sweep needs at least one method (or a retrain band, or U-LiRA shadows)")
        if self.model_key is not None and self.seed_base:
            raise UserInputError("a sweep on a stored model cannot retrain its base model per seed: "
                                 "use seed_base false")
        for grid in self.methods:
            get_method(grid.method)
            grid.expanded()
        seeds = tuple(self.seeds)
        if not seeds:
            raise UserInputError("a sweep needs at least one seed")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise UserInputError(f"seeds must be non-negative integers, got {list(seeds)}")
        if len(set(seeds)) != len(seeds):
            raise UserInputError(f"seeds repeat: {list(seeds)}")
        spec = replace(self, experiment=experiment, seeds=seeds)
        runs = sum(len(g.combinations()) for g in spec.methods)
        per_seed = (runs or 1) * spec.ulira if spec.ulira else runs  # shadows replace the runs they attack
        count = (per_seed + spec.band) * len(spec.forgets) * len(seeds)
        if count > MAX_CELLS:
            raise UserInputError(f"the sweep has {count} cells; more than {MAX_CELLS} is refused")
        return spec

    def cells(self) -> list[SweepCell]:
        """Every cell, in a stable order (forget set, method, grid combination, seed, then the band cells of
        each (forget set, seed, base model variant); with `ulira`, the shadow cells of each method cell in pair
        order in place of the method cells, after the band cells), without duplicates."""
        from unlearn_core.studies.band import band_seeds

        spec = self.validated()
        out: dict[str, SweepCell] = {}
        for forget in spec.forgets:
            variants: dict[tuple[int, str], ExperimentSpec] = {}
            shadowed: list[SweepCell] = []  # the method cells (or "original" ones) that get U-LiRA shadows
            for grid in spec.methods:
                impl = get_method(grid.method)
                for params in grid.combinations():
                    config = tuple(sorted(impl.Config.from_values(params).to_dict().items()))
                    for seed in spec.seeds:
                        experiment = (replace(spec.experiment, seed=seed) if spec.seed_base
                                      else spec.experiment).resolved()
                        cell = SweepCell(experiment, forget, grid.method, tuple(sorted(params.items())), seed,
                                         config, model_key=spec.model_key)
                        variant = experiment if spec.model_key else experiment.with_artifacts(
                            impl.info.needs_artifacts)
                        variants.setdefault((seed, variant.key), variant)
                        if spec.ulira:
                            shadowed.append(replace(cell, experiment=variant))
                        else:
                            out.setdefault(cell.key, cell)
            for seed in spec.seeds if spec.band else ():
                if not spec.methods:
                    experiment = (replace(spec.experiment, seed=seed) if spec.seed_base
                                  else spec.experiment).resolved()
                    variants[(seed, experiment.key)] = experiment
                for (variant_seed, _), variant in variants.items():
                    if variant_seed != seed:
                        continue
                    for retrain_seed in band_seeds(variant.seed, spec.band):
                        cell = SweepCell(variant, forget, "retrain", (), seed, (), retrain_seed, spec.model_key)
                        out.setdefault(cell.key, cell)
            if spec.ulira and not spec.methods:
                for seed in spec.seeds:
                    experiment = (replace(spec.experiment, seed=seed) if spec.seed_base
                                  else spec.experiment).resolved()
                    shadowed.append(SweepCell(experiment, forget, ORIGINAL, (), seed, (), model_key=spec.model_key))
            # a shadow cell's experiment is the variant its method runs on, as the attacked run's record names it,
            # so the shadows a sweep trains are the ones `ulira_for_run` finds for that run
            for owner in shadowed:
                for pair in range(spec.ulira):
                    cell = replace(owner, shadow_pair=pair, shadow_epochs=spec.shadow_epochs)
                    out.setdefault(cell.key, cell)
        return list(out.values())

    @property
    def key(self) -> str:
        return _digest(self.to_dict())

    def to_dict(self) -> dict:
        experiment = self.experiment.resolved() if isinstance(self.experiment, ExperimentSpec) else self.experiment
        # band, model_key and ulira only when set, so the keys of sweeps stored before they existed stay the same
        optional = {name: value for name, value in (("band", self.band), ("model_key", self.model_key),
                                                    ("ulira", self.ulira), ("shadow_epochs", self.shadow_epochs))
                    if value}
        return {"experiment": experiment.to_dict(), "forgets": [f.to_dict() for f in self.forgets],
                "methods": [g.to_dict() for g in self.methods], "seeds": list(self.seeds),
                "seed_base": self.seed_base, "title": self.title, **optional}

    @classmethod
    def from_dict(cls, data: Mapping) -> SweepSpec:
        """Reads `to_dict()` output or a hand-written sweep.json: `experiment` may give `epochs` instead of a
        full recipe, and `forget` (one forget set) may stand for `forgets`."""
        if not isinstance(data, Mapping):
            raise UserInputError("a sweep config is a JSON object")
        known = {"experiment", "forgets", "forget", "methods", "seeds", "seed_base", "title", "band", "model_key",
                 "ulira", "shadow_epochs"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserInputError(f"unknown sweep field {unknown[0]!r}; fields: {', '.join(sorted(known))}")
        try:
            experiment = _experiment_from(data.get("experiment") or {})
            forgets_data = data.get("forgets")
            if forgets_data is None:
                forgets_data = [data["forget"]] if data.get("forget") is not None else []
            forgets = tuple(ForgetSpec.from_dict(f) for f in forgets_data)
            methods = tuple(MethodGrid.from_dict(m) if isinstance(m, Mapping) else MethodGrid(str(m))
                            for m in data.get("methods") or [])
            seeds = tuple(_int_seed(s) for s in data.get("seeds", [0]))
            band = data.get("band", 0)
            if isinstance(band, bool) or not isinstance(band, int):
                raise UserInputError(f"band is the number of band retrains (an integer), got {band!r}")
            model_key = data.get("model_key")
            if model_key is not None and not isinstance(model_key, str):
                raise UserInputError(f"model_key is a stored model's key, got {model_key!r}")
            ulira, shadow_epochs = data.get("ulira", 0), data.get("shadow_epochs")
            if isinstance(ulira, bool) or not isinstance(ulira, int):
                raise UserInputError(f"ulira is the number of U-LiRA shadow pairs (an integer), got {ulira!r}")
            if shadow_epochs is not None and (isinstance(shadow_epochs, bool) or not isinstance(shadow_epochs, int)):
                raise UserInputError(f"shadow_epochs is a number of epochs (an integer), got {shadow_epochs!r}")
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserInputError(f"not a sweep config: {exc}") from None
        return cls(experiment, forgets, methods, seeds, bool(data.get("seed_base", True)), str(data.get("title", "")),
                   band, model_key, ulira, shadow_epochs)


def _int_seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserInputError(f"seeds must be non-negative integers, got {value!r}")
    return value


def _experiment_from(data: Mapping) -> ExperimentSpec:
    from unlearn_core.experiment import experiment_from_args

    if not isinstance(data, Mapping):
        raise UserInputError("experiment must be an object with dataset, arch, ...")
    if data.get("recipe"):
        return ExperimentSpec.from_dict(dict(data))
    extra = sorted(set(data) - {"dataset", "arch", "seed", "epochs", "dataset_options"})
    if extra:
        raise UserInputError(f"unknown experiment field {extra[0]!r}")
    return experiment_from_args(data.get("dataset", "digits"), data.get("arch", "cnn"), int(data.get("seed", 0)),
                                data.get("epochs"), dict(data.get("dataset_options") or {}))


def parse_grid_arg(method: str, text: str) -> tuple[str, GridValues]:
    """One CLI `--grid` value: `name=v1,v2,...` or `name=log:LOW:HIGH:NUM` (NUM log-spaced floats)."""
    if "=" not in text:
        raise UserInputError(f"--grid expects name=v1,v2,... or name=log:low:high:num, got {text!r}")
    name, raw = (part.strip() for part in text.split("=", 1))
    if raw.startswith("log:"):
        parts = raw[4:].split(":")
        try:
            low, high, num = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise UserInputError(f"--grid {name}: a log range is log:LOW:HIGH:NUM, got {raw!r}") from None
        if len(parts) != 3:
            raise UserInputError(f"--grid {name}: a log range is log:LOW:HIGH:NUM, got {raw!r}")
        return name, LogRange(low, high, num)
    return name, tuple(v.strip() for v in raw.split(",") if v.strip())


# ---- preparing and estimating ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Skipped:
    """Cells that cannot run on this scenario (e.g. a method that refuses class forgetting), with the reason."""

    method: str
    forget: str
    reason: str
    cells: int


def check_scenarios(lab: Lab, spec: SweepSpec, cells: list[SweepCell]) -> tuple[list[SweepCell], list[Skipped]]:
    """Checks every forget set against the dataset and drops the cells whose method refuses the scenario.

    Raises UserInputError when a forget set is invalid or no cell can run (nothing is trained or stored)."""
    dataset = lab.dataset(spec.experiment)
    for forget in spec.forgets:
        select_forget(forget, dataset)
    runnable, skipped = [], {}
    for cell in cells:
        if cell.method == ORIGINAL:  # a shadow cell without unlearning: any scenario, any model
            runnable.append(cell)
            continue
        reason = lab.applicability(cell.method, cell.experiment, cell.forget) or (
            None if cell.model_key else lab.variant_refusal(cell.method, cell.experiment))
        if reason:
            entry = skipped.setdefault((cell.method, cell.forget.key), [cell.forget.describe(), reason, 0])
            entry[2] += 1
        else:
            runnable.append(cell)
    out = [Skipped(m, f, r, n) for (m, _), (f, r, n) in skipped.items()]
    if not runnable:
        raise UserInputError("no cell of the sweep can run: " + "; ".join(s.reason for s in out))
    return runnable, out


def cell_variant(cell: SweepCell) -> ExperimentSpec:
    """The experiment whose base model the cell runs on: the variant its method needs (or the stored model's; a
    shadow cell's experiment is that variant already)."""
    if cell.model_key or cell.is_shadow:
        return cell.experiment
    return cell.experiment.with_artifacts(get_method(cell.method).info.needs_artifacts)


def band_model_key(cell: SweepCell) -> str:
    """The store key of a band cell's retrain (as `Lab.retrain_oracle` names it)."""
    base_key = cell.model_key or "base-" + cell_variant(cell).key
    return f"retrain-{base_key.split('-', 1)[1]}-{cell.forget.key}-s{cell.retrain_seed}"


def prepare(lab: Lab, cells: list[SweepCell], progress: Progress = quiet,
            stop: threading.Event | None = None, models: dict[str, tuple[str, ...]] | None = None) -> list[Skipped]:
    """Trains (or loads) every base model and retrain oracle the cells need, and their reference metrics, once.

    Returns the cells' methods that refuse the prepared model (a method's `applicability` on the real splits,
    e.g. partial_amnesiac on a class that fills every recorded step): those cells are skipped, not run.
    `models`, when given, receives each cell's (base model key, oracle key), a shadow cell's (base model key,):
    what a remote worker needs."""
    needs: dict[tuple[str, str, int], tuple[ExperimentSpec, ForgetSpec, int, str | None]] = {}
    for cell in cells:
        variant = cell_variant(cell)
        needs.setdefault((variant.key, cell.forget.key, cell.seed), (variant, cell.forget, cell.seed, cell.model_key))
    refused: dict[tuple[str, str], Skipped] = {}
    for i, (variant, forget, seed, model_key) in enumerate(needs.values()):
        if stop is not None and stop.is_set():
            break

        def step(fraction: float, message: str, i: int = i) -> None:
            progress((i + fraction) / len(needs), f"preparing {i + 1}/{len(needs)}: {message}")

        base = (lab.stored_model(model_key) if model_key
                else lab.base_model(variant, lambda f, m: step(0.6 * f, m), stop))
        # the oracle for shadow cells too: the U-LiRA attack that reads them scores it beside the attacked model
        oracle = lab.retrain_oracle(base, forget, lambda f, m: step(0.6 + 0.3 * f, m), stop)
        splits = Splits.build(lab.dataset(variant), forget, lab.device)
        mine = [c for c in cells
                if c.forget.key == forget.key and c.seed == seed and cell_variant(c).key == variant.key]
        if any(not c.is_shadow for c in mine):  # shadow cells are scored by U-LiRA, not by these metrics
            step(0.9, "reference metrics of the original and the oracle")
            lab._reference_metrics(base, oracle, splits, seed)
        for cell in mine:
            if cell.is_shadow:
                # a shadow cell trains from scratch with the base recipe (its codes, its update log option) and
                # checks its method on its own shadow splits, so it needs the base model only
                if models is not None:
                    models[cell.key] = (base.key,)
                continue
            impl = get_method(cell.method)
            if models is not None:
                models[cell.key] = (base.key, oracle.key)
            reason = impl.applicability(splits, base.artifacts)
            if reason:
                refused.setdefault((cell.method, forget.key), Skipped(cell.method, forget.describe(), reason, 0))
                old = refused[(cell.method, forget.key)]
                refused[(cell.method, forget.key)] = replace(old, cells=old.cells + 1)
    progress(1.0, "prepared")
    return list(refused.values())


@dataclass(frozen=True)
class CostEstimate:
    """What a sweep will cost, from the workspace's history of the same methods on the same dataset/arch."""

    cells: int
    done: int  # cells that already have a finished run (resumed or shared with another sweep)
    to_run: int
    models_to_train: int  # base models and retrain oracles not in the workspace yet
    seconds: float | None  # estimated sequential seconds of the cells to run and models to train
    basis: str  # how it was estimated, in words

    def wall_seconds(self, workers: int) -> float | None:
        """The ideal wall time on `workers` parallel workers (cores permitting)."""
        return None if self.seconds is None else self.seconds / max(1, workers)

    def to_dict(self) -> dict:
        return {"cells": self.cells, "done": self.done, "to_run": self.to_run,
                "models_to_train": self.models_to_train, "seconds": self.seconds, "basis": self.basis}


def estimate_cost(lab: Lab, spec: SweepSpec) -> CostEstimate:
    """Number of cells and estimated cost before the sweep starts (median past wall time per method)."""
    cells = spec.cells()
    statuses = finished_statuses(lab, cells)
    pending = [c for c in cells if c.run_id not in statuses]
    rows = lab.store.list_runs(status="ok", limit=5000)
    experiment = spec.validated().experiment
    per_method: dict[str, list[float]] = {}
    for row in rows:
        if row["dataset"] == experiment.dataset and row["arch"] == experiment.arch and row.get("finished"):
            # a run a Ray worker computed is indexed when it comes back: its own `seconds` bounds it from below
            wall = max(row["finished"] - row["created"], row.get("seconds") or 0.0)
            per_method.setdefault(row["method"], []).append(wall)
    model_keys: set[str] = set()
    for cell in pending:
        base_key = cell.model_key or "base-" + cell_variant(cell).key
        model_keys.add(base_key)
        model_keys.add(f"retrain-{base_key.split('-', 1)[1]}-{cell.forget.key}")
        if cell.is_band:  # a band cell trains its retrain (when not cached) and evaluates it: about a training
            model_keys.add(band_model_key(cell))
    missing = [k for k in model_keys if not lab.store.has_model(k)]
    train_times = [m["meta"].get("train_seconds") for m in lab.store.list_models("base")
                   if m["dataset"] == experiment.dataset and m["arch"] == experiment.arch
                   and isinstance(m["meta"].get("train_seconds"), int | float)]
    runs = [c for c in pending if not c.is_band]

    def kind(cell: SweepCell) -> str:  # shadow pairs are timed by earlier shadow pairs (their runs' method column)
        return SHADOW_RUN_METHOD if cell.is_shadow else cell.method

    unknown = sorted({kind(c) for c in runs if kind(c) not in per_method})
    total: float | None = sum(statistics.median(per_method[kind(c)]) for c in runs if kind(c) in per_method)
    basis = [f"median wall time of earlier {experiment.dataset}/{experiment.arch} runs per method"]
    if unknown:
        total, basis = None, [f"no earlier run of {', '.join(unknown)} on {experiment.dataset}/{experiment.arch}"]
    if missing and total is not None:
        if train_times:
            total += len(missing) * statistics.median(train_times)
            basis.append(f"{len(missing)} model(s) to train at the median earlier training time")
        else:
            total, basis = None, [f"{len(missing)} model(s) to train and no earlier training time to go by"]
    return CostEstimate(len(cells), len(cells) - len(pending), len(pending), len(missing), total, "; ".join(basis))


# ---- running ---------------------------------------------------------------------------------------------------
FINISHED_CELL = ("ok", "failed")  # deterministic outcomes: re-running gives the same result, so never redone


def finished_statuses(lab: Lab, cells: list[SweepCell]) -> dict[str, str]:
    """{run id: status} of the cells whose run is finished for good. A run that failed on an internal error (a
    crash, not the method's own failure) is not: it is run again."""
    statuses = lab.store.run_statuses([c.run_id for c in cells])
    out = {}
    for run_id, status in statuses.items():
        if status == "failed" and str((lab.store.run_row(run_id) or {}).get("error") or "").startswith("internal"):
            continue
        if status in FINISHED_CELL:
            out[run_id] = status
    return out
CELL_STATES = ("queued", "running", "ok", "failed", "cancelled", "skipped", "done before")


@dataclass
class CellState:
    """What is known about one cell during a sweep (the dashboard's per-cell progress)."""

    key: str
    label: str
    run_id: str
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    worker: str = ""


class SweepMonitor:
    """Thread-safe live state of a running sweep: per-cell status and progress, and a stop switch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cells: dict[str, CellState] = {}
        self.phase = "starting"
        self.executor: dict = {}
        self.stop = threading.Event()
        self.started = time.time()
        self.finished: float | None = None

    def set(self, key: str, **changes: Any) -> None:
        with self._lock:
            state = self.cells.get(key)
            if state is not None:
                for name, value in changes.items():
                    setattr(state, name, value)

    def snapshot(self) -> list[CellState]:
        with self._lock:
            return [replace(c) for c in self.cells.values()]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cell in self.snapshot():
            out[cell.status] = out.get(cell.status, 0) + 1
        return out


@dataclass
class SweepResult:
    """A finished (or cancelled) sweep: the spec, its stored key, the executor that ran it and every cell."""

    spec: SweepSpec
    key: str
    status: str  # "finished" or "cancelled"
    executor: dict
    cells: list[CellState]
    skipped: list[Skipped]
    seconds: float

    def to_dict(self, rows: list[dict] | None = None) -> dict:
        return {"sweep_key": self.key, "status": self.status, "executor": self.executor, "seconds": self.seconds,
                "spec": self.spec.to_dict(),
                "skipped": [{"method": s.method, "forget": s.forget, "reason": s.reason, "cells": s.cells}
                            for s in self.skipped],
                "cells": [{"key": c.key, "label": c.label, "run_id": c.run_id, "status": c.status,
                           "worker": c.worker, "message": c.message} for c in self.cells],
                **({"rows": rows} if rows is not None else {})}


def run_sweep(spec: SweepSpec, *, executor: str = "local", workers: int | None = None, address: str | None = None,
              lab: Lab | None = None, device: str = "auto", threads: int | None = None,
              gpus_per_cell: float | None = None, progress: Progress = quiet, monitor: SweepMonitor | None = None,
              stop: threading.Event | None = None, keep_ray: bool = False) -> SweepResult:
    """Runs every cell of `spec` that has no finished run yet, on `executor` ("sequential", "local", "ray").

    Bad input (an invalid spec, a forget set the dataset cannot give, an unreachable Ray address) raises
    UserInputError before anything is trained or stored. `stop` (or `monitor.stop`) cancels: queued cells are
    never started and running ones are asked to stop (stored as cancelled, redone on the next run). A cell that
    already has a finished run is reported as "done before" and not run again. `keep_ray` leaves a Ray instance
    started here running for the next sweep (the dashboard keeps one; a command-line sweep stops it)."""
    from unlearn_core.studies.executors import CellTask, make_executor

    started = time.time()
    spec = spec.validated()
    lab = lab or Lab(device=device)
    monitor = monitor or SweepMonitor()
    stop = stop or monitor.stop
    cells, skipped = check_scenarios(lab, spec, spec.cells())
    reports = _CellReports(monitor, progress)
    engine = make_executor(executor, workers=workers, address=address, threads=threads,
                           gpus_per_cell=gpus_per_cell, lab=lab, keep_ray=keep_ray, stop=stop, listener=reports)
    engine.start()  # may raise UserInputError (e.g. Ray unreachable): nothing stored yet
    try:
        monitor.executor = engine.describe()
        key = spec.key
        lab.store.save_sweep(key, spec.to_dict(), "running", {"executor": monitor.executor, "started": started})
        statuses = finished_statuses(lab, cells)
        with monitor._lock:
            monitor.cells = {c.key: CellState(c.key, c.label(), c.run_id) for c in cells}
        for cell in cells:
            if cell.run_id in statuses:
                monitor.set(cell.key, status="done before", progress=1.0, message=statuses[cell.run_id])
        pending = [c for c in cells if c.run_id not in statuses]
        monitor.phase = "preparing base models and retrain oracles"
        models: dict[str, tuple[str, ...]] = {}
        refused = prepare(lab, pending, lambda f, m: progress(0.2 * f, m), stop, models) if pending else []
        refused_methods = {(s.method, s.forget) for s in refused}
        skipped += refused
        for cell in pending:
            if (cell.method, cell.forget.describe()) in refused_methods:
                monitor.set(cell.key, status="skipped", message="the method refuses this prepared model")
        pending = [c for c in pending if (c.method, c.forget.describe()) not in refused_methods]
        monitor.phase = f"running {len(pending)} cells on {engine.name}"
        tasks = [CellTask(c, str(lab.store.root), engine.device_for(device), models.get(c.key, ()))
                 for c in pending]
        try:
            _drive(engine, tasks, monitor, stop, progress, reports)
        except KeyboardInterrupt:  # Ctrl-C: running cells are asked to stop before the workers are released
            stop.set()
            engine.cancel()
            raise
    finally:
        engine.close()
    if spec.band and not stop.is_set():
        monitor.phase = "storing the retrain bands"
        store_bands(lab, cells)
    status = "cancelled" if stop.is_set() else "finished"
    monitor.phase, monitor.finished = status, time.time()
    counts = monitor.counts()
    lab.store.save_sweep(key, spec.to_dict(), status, {"executor": monitor.executor, "started": started,
                                                       "seconds": time.time() - started, "counts": counts})
    progress(1.0, f"sweep {status}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return SweepResult(spec, key, status, monitor.executor, monitor.snapshot(), skipped, time.time() - started)


def band_groups(cells: list[SweepCell]) -> dict[tuple, list[SweepCell]]:
    """The band cells of each retrain band (base model, forget set, evaluation seed), in training-seed order."""
    groups: dict[tuple, list[SweepCell]] = {}
    for cell in cells:
        if cell.is_band:
            key = (cell.model_key or cell_variant(cell).key, cell.forget.key, cell.seed)
            groups.setdefault(key, []).append(cell)
    return {key: sorted(group, key=lambda c: c.retrain_seed) for key, group in groups.items()}


def store_bands(lab: Lab, cells: list[SweepCell]) -> list[dict]:
    """Assembles and stores the retrain band of every group whose band cells all finished (`studies.band`),
    unless a band with at least as many retrains is stored already; returns the bands stored now."""
    from unlearn_core.studies.band import band_from_runs

    stored = []
    for group in band_groups(cells).values():
        statuses = lab.store.run_statuses([c.run_id for c in group])
        if any(statuses.get(c.run_id) != "ok" for c in group):
            continue
        records = [lab.store.get_run(c.run_id) for c in group]
        oracle_key, seed = records[0]["retrain_key"], group[0].seed
        cached = lab.cached_band(oracle_key, seed)
        if cached is not None and cached.get("k", 0) >= len(group):
            continue
        band = band_from_runs(records)
        lab.store.put_eval(lab.band_key(oracle_key, seed), band)
        stored.append(band)
    return stored


class _CellReports:
    """The progress reports of running cells: into the monitor (the Sweeps page's per-cell bars) and, as the
    cells' share of the sweep's bar, to `progress` (a caller with one bar, e.g. a U-LiRA job, moves within a cell)."""

    def __init__(self, monitor: SweepMonitor, progress: Progress) -> None:
        self.monitor, self.progress = monitor, progress
        self.total, self.done = 1, 0
        self.running: dict[str, tuple[str, float]] = {}  # cell key -> (label, fraction)

    def __call__(self, key: str, fraction: float, message: str, worker: str) -> None:
        self.monitor.set(key, progress=fraction, message=message, worker=worker)
        if key in self.running:
            label = self.running[key][0]
            self.running[key] = (label, min(1.0, max(0.0, fraction)))
            share = self.done + sum(f for _, f in self.running.values())
            self.progress(0.2 + 0.8 * share / self.total, f"{label}: {message}")


def _drive(engine: Any, tasks: list, monitor: SweepMonitor, stop: threading.Event, progress: Progress,
           reports: _CellReports) -> None:
    """Keeps at most `engine.slots` cells in flight; queued cells stay here, so cancel simply drops them."""
    queue = list(tasks)
    inflight: dict[Any, str] = {}
    total = reports.total = max(1, len(tasks))
    done = 0
    cancelled = False
    while queue or inflight:
        while queue and len(inflight) < engine.slots and not stop.is_set():
            task = queue.pop(0)
            reports.running[task.cell.key] = (task.cell.label(), 0.0)
            inflight[engine.submit(task)] = task.cell.key
            monitor.set(task.cell.key, status="running", message="submitted")
        if stop.is_set() and not cancelled:
            cancelled = True
            for task in queue:
                monitor.set(task.cell.key, status="cancelled", message="cancelled before it started")
            queue.clear()
            engine.cancel()
        for report in engine.progress():
            reports(*report)
        for handle in engine.wait(list(inflight), timeout=0.2):
            key = inflight.pop(handle)
            outcome = engine.collect(handle)
            done += 1
            reports.running.pop(key, None)
            reports.done = done
            monitor.set(key, status=outcome.status, progress=1.0 if outcome.status == "ok" else 0.0,
                        message=outcome.error or outcome.status, worker=outcome.worker)
            progress(0.2 + 0.8 * done / total, f"{done}/{total} cells: {outcome.label} {outcome.status}")


# ---- reading results -------------------------------------------------------------------------------------------
ROW_METRICS = ("forget_acc", "retain_acc", "test_acc", "test_acc_retain_classes", "mia_efficacy", "avg_gap",
               "seconds")


def sweep_rows(lab: Lab, spec: SweepSpec) -> list[dict]:
    """One row per cell: method, grid values, seed, forget set, status, run id, scalar metrics and the gap of
    forget accuracy to the retrain oracle (the x axis of the forgetting/utility plot); `retrain_seed` marks a
    band cell (None for the others)."""
    cells = spec.cells()
    statuses = lab.store.run_statuses([c.run_id for c in cells])
    rows = []
    for cell in cells:
        status = statuses.get(cell.run_id, "not run")
        row: dict[str, Any] = {"cell": cell.key, "run_id": cell.run_id if cell.run_id in statuses else None,
                               "method": cell.method, "seed": cell.seed, "forget": cell.forget.describe(),
                               "params": dict(cell.params), "status": status, "metrics": {},
                               "retrain_seed": cell.retrain_seed}
        if status == "ok":
            record = lab.store.get_run(cell.run_id)
            values = scalar_values(record.get("metrics"))
            retrain_forget = (record.get("retrain") or {}).get("forget_acc")
            if isinstance(retrain_forget, int | float) and "forget_acc" in values:
                values["forget_gap"] = abs(values["forget_acc"] - retrain_forget)
            row["metrics"] = values
            row["experiment_key"] = record.get("experiment_key")
            row["forget_dict"] = record.get("forget")
            row["device"] = record.get("device")
        rows.append(row)
    return rows


__all__ = ["CELL_STATES", "ORIGINAL", "SHADOW_RUN_METHOD", "CellState", "CostEstimate", "LogRange", "MethodGrid",
           "Skipped", "SweepCell", "SweepMonitor", "SweepResult", "SweepSpec", "band_groups", "band_model_key",
           "cell_variant", "check_scenarios", "estimate_cost", "parse_grid_arg", "prepare", "run_sweep",
           "store_bands", "sweep_rows"]
