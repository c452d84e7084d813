"""The method plumbing: metadata, typed configs, the run context and the registry.

A new method is one new file in this package:

    @register_method("my_method")
    class MyMethod(UnlearningMethod):
        info = MethodInfo(title=..., summary=..., paper=..., family="baseline", needs_retain=True)

        @dataclass(frozen=True)
        class Config(MethodConfig):
            lr: float = param(1e-2, min=1e-6, max=1.0, log=True, help="learning rate")

        def unlearn(self, model, splits, artifacts, cfg, ctx) -> UnlearnResult: ...
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from unlearn_core import UserInputError, validation
from unlearn_core.data import Splits
from unlearn_core.models.architectures import PARAM_KINDS
from unlearn_core.models.training import TrainRecipe, UpdateLog
from unlearn_core.progress import Progress, quiet
from unlearn_core.registry import Registry

SCENARIOS = ("class", "random", "images", "mixed")


@dataclass(frozen=True)
class MethodInfo:
    title: str
    summary: str  # one line, shown beside the method everywhere
    paper: str  # citation, e.g. "Cai et al., ICML 2025, arXiv:2407.11867"
    family: str  # "seed" | "baseline" | "oracle"
    needs_retain: bool  # reads retain images by default
    needs_forget_data: bool = True  # reads forget images (mnemonic: False)
    needs_artifacts: tuple[str, ...] = ()  # "mnemonic_codes", "update_log"
    scenarios: tuple[str, ...] = SCENARIOS
    scenario_note: str = ""  # why the other scenarios are not supported (shown when one is refused)
    one_shot: bool = False  # no training epochs
    inferred: str = ""  # what of this implementation is our reconstruction, not the paper's text
    known_limits: str = ""  # where its faithful defaults are known to fail, and why (measured; shown on its card)
    # What it does to any architecture (declared by every method; the contract tests check it on every listed
    # architecture): the parameter kinds it may change (models.architectures.PARAM_KINDS; "all" for
    # every kind) and how it runs normalisation layers (NORM_MODES)
    edits: tuple[str, ...] = ()
    norm_mode: str = ""

    def edited_kinds(self) -> tuple[str, ...]:
        """The declared parameter kinds, with "all" spelled out."""
        return PARAM_KINDS if "all" in self.edits else tuple(k for k in PARAM_KINDS if k in self.edits)


# How a method runs BatchNorm/LayerNorm. LayerNorm has no running statistics, so on a LayerNorm model the
# modes differ only in dropout and stochastic depth.
NORM_MODES = {
    "eval": "eval mode throughout: BatchNorm normalises with its running statistics and keeps them unchanged; "
            "dropout and stochastic depth are off",
    "gradient_train": "one gradient pass in train mode (BatchNorm normalises with batch statistics), eval mode "
                      "for the rest; the running statistics that pass moves are put back",
    "train": "train mode for its gradient steps: BatchNorm normalises with batch statistics and its running "
             "statistics move towards the batches it trains on; dropout and stochastic depth are on",
    "fresh": "trains a new model from scratch in train mode: every weight and running statistic is new",
}


@dataclass(frozen=True)
class ParamSpec:
    """A config field with what a form or CLI flag needs to present and validate it."""

    name: str
    type: type
    default: Any
    min: float | None
    max: float | None
    help: str
    choices: tuple | None
    log: bool
    paper: str = ""  # the paper's or official code's default, with its source when it is not obvious
    why: str = ""  # why our default differs from `paper` (empty when they agree)

    @property
    def help_text(self) -> str:
        """The help with our default beside the paper's or official code's, and why ours differs."""
        origin = f"ours {format_default(self.default)}; paper/official: {self.paper or 'not stated'}"
        if self.why:
            origin += f" ({self.why})"
        return f"{self.help} [{origin}]" if self.help else f"[{origin}]"

    def check(self, value: Any) -> str | None:
        """Why `value` is not allowed for this parameter (one line), or None when it is; forms show it inline."""
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name} must be a finite number, got {value}"
        if self.min is not None and value < self.min:
            return f"{self.name} must be >= {self.min}, got {value}"
        if self.max is not None and value > self.max:
            return f"{self.name} must be <= {self.max}, got {value}"
        return None


def format_default(value: Any) -> str:
    """A default as the help text and `unlearn methods` print it: on/off for booleans, 'empty' for ''."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == "":
        return "empty"
    return f"{value:g}" if isinstance(value, float) else str(value)


def param(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    help: str = "",
    choices: tuple | None = None,
    log: bool = False,
    paper: str = "",
    why: str = "",
) -> Any:
    """A typed config field with UI/CLI metadata and a validated range.

    `paper` is the paper's or official code's default (text, so it can name its source, e.g. "0.013 (README 10%
    example)", or say "none (our extension)"); `why` says why our default differs from it.
    """
    return field(default=default, metadata={"min": min, "max": max, "help": help, "choices": choices, "log": log,
                                            "paper": paper, "why": why})


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's frozen config dataclass."""

    @classmethod
    def params(cls) -> list[ParamSpec]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in fields(cls):
            meta = f.metadata
            default = f.default if f.default is not MISSING else None
            out.append(ParamSpec(f.name, hints[f.name], default, meta.get("min"), meta.get("max"),
                                 meta.get("help", ""), meta.get("choices"), meta.get("log", False),
                                 meta.get("paper", ""), meta.get("why", "")))
        return out

    def validate(self) -> None:
        for spec in self.params():
            problem = spec.check(getattr(self, spec.name))
            if problem:
                raise UserInputError(problem)

    @classmethod
    def from_values(cls, values: dict[str, Any] | None = None) -> MethodConfig:
        """Builds a validated config from typed values or strings (CLI `--set key=value`)."""
        values = validation.mapping(values or {}, "method parameters")
        specs = {s.name: s for s in cls.params()}
        unknown = [k for k in values if k not in specs]
        if unknown:
            raise UserInputError(
                f"unknown parameter {unknown[0]!r}; parameters: {', '.join(specs) or 'none'}"
            )
        parsed = {k: _coerce(specs[k], v) for k, v in values.items()}
        cfg = cls(**parsed)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(spec: ParamSpec, value: Any) -> Any:
    """A typed value from a form, a JSON config or CLI text; ranges are checked by `validate`."""
    kind = spec.type
    if kind is bool:
        return validation.boolean(value, spec.name)
    if kind is int:
        return validation.bounded_int(value, spec.name)
    if kind is float:
        return validation.finite_float(value, spec.name)
    if kind is str:
        return validation.text(value, spec.name, allow_empty=True)
    return value


@dataclass
class TrainingArtifacts:
    """What the base model's training left behind for methods that need it."""

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    recipe: TrainRecipe
    seed: int
    codes: torch.Tensor | None = None
    updates: UpdateLog | None = None
    original_train_acc: float | None = None

    def available(self) -> set[str]:
        out = set()
        if self.codes is not None:
            out.add("mnemonic_codes")
        if self.updates is not None:
            out.add("update_log")
        return out


class UnlearnCancelled(RuntimeError):
    """The user pressed cancel."""


class MethodNotApplicable(UserInputError):
    """The method cannot run on this scenario or model; the message says why."""


class MethodDiverged(RuntimeError):
    """The method produced non-finite weights or an exploding loss."""


@dataclass(frozen=True)
class OracleModel:
    """The retrain oracle the Lab has already trained for this (base model, forget set), handed to methods that
    can reuse it instead of training again (the retrain method). `seconds` is its recorded training time."""

    model: nn.Module
    seconds: float
    history: list[dict] = field(default_factory=list)


@dataclass
class UnlearnContext:
    """Device, seed, progress callback and cancel event handed to every method; `oracle` is the cached retrain
    oracle when the caller has one (Lab.run), None elsewhere (benchmarks time a real retraining)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    progress: Progress = quiet
    stop_event: threading.Event = field(default_factory=threading.Event)
    oracle: OracleModel | None = None

    def report(self, fraction: float, message: str = "") -> None:
        self.check_cancelled()
        self.progress(max(0.0, min(1.0, fraction)), message)

    def check_cancelled(self) -> None:
        if self.stop_event.is_set():
            raise UnlearnCancelled("cancelled by the user")

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run seed (an offset gives independent streams)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)


@dataclass
class UnlearnResult:
    """What a method returns: the edited model, its diagnostics (tensors and JSON values, stored with the run
    and drawn by its panels) and notes for the run record. `seconds` is set only by a method that reuses work
    done earlier (the cached oracle) and reports that work's recorded time instead of the measured call."""

    model: nn.Module
    diagnostics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None


# ---- panels: how the dashboard and the report show a method's diagnostics --------------------------------
@dataclass(frozen=True)
class PanelContext:
    """What a panel's figure builder may need besides the diagnostics."""

    label: str  # the run's label in its scenario ("slug", "slug #2")
    class_names: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # the run's method parameters
    forgotten: tuple[int, ...] = ()  # the classes the scenario forgets whole (marked on per-class figures)


@dataclass(frozen=True)
class PanelFigure:
    """One figure of a panel (a plotly Figure, typed Any so the plumbing does not import plotly) with its caption;
    `figure=None` is a line of text only."""

    figure: Any
    caption: str = ""


@dataclass(frozen=True)
class WhatIfOutcome:
    """What a what-if hook produced: an edited model (re-evaluated by the caller) or, for an edit that would
    need retraining, a table of what would change; `setting` says the setting in words."""

    setting: str
    model: nn.Module | None = None
    table: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class WhatIf:
    """Re-applies a one-shot method's stored edit with another setting (the Predictions page's slider).

    `choices(diag, params)` gives the slider's values and its default, `apply(original, diag, params, value)`
    re-applies the edit to the original model (never editing it) and undoes whatever the method did to store
    its diagnostics compactly (e.g. a reshape for display). `needs` is the diagnostics key the hook replays."""

    label: str
    needs: str
    choices: Callable[[dict[str, Any], dict[str, Any]], tuple[list[Any], Any]]
    apply: Callable[[nn.Module, dict[str, Any], dict[str, Any], Any], WhatIfOutcome]
    missing: str = "This run stored nothing to replay."


@dataclass(frozen=True)
class Panel:
    """A view of a method's stored diagnostics, declared beside the method: the Inside page, the report and the
    Predictions page's what-if draw every method through its panels, so a new method brings its own views.

    `key` is the diagnostics entry the panel draws (a run without it shows nothing); `figures(diag, ctx)` builds
    the figures (import plotly builders inside it, so the method module stays light)."""

    title: str
    caption: str
    key: str
    figures: Callable[[dict[str, Any], PanelContext], list[PanelFigure]]
    whatif: WhatIf | None = None


def _history_figures(diag: dict[str, Any], ctx: PanelContext) -> list[PanelFigure]:
    from unlearn_core.viz import model as vm

    history = diag["history"]
    if not any("forget_acc" in r or "loss" in r for r in history):
        return []
    return [PanelFigure(vm.history_figure(history, f"{ctx.label} per epoch"))]


HISTORY_PANEL = Panel(
    title="per-epoch history",
    caption="Forget and retain accuracy (and the loss) after every epoch of an iterative method.",
    key="history", figures=_history_figures)


def has_diagnostic(diagnostics: dict[str, Any], key: str) -> bool:
    """Whether a run's diagnostics hold a non-empty `key` (what a panel or a what-if hook needs)."""
    value = diagnostics.get(key)
    if value is None:
        return False
    if isinstance(value, torch.Tensor):
        return value.numel() > 0
    return bool(value) if isinstance(value, dict | list | tuple | str) else True


class UnlearningMethod(ABC):
    """Base of every method. `panels` say how its diagnostics are shown (the per-epoch history by default)."""

    name: ClassVar[str]
    info: ClassVar[MethodInfo]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    panels: ClassVar[tuple[Panel, ...]] = (HISTORY_PANEL,)

    def applicability(self, splits: Splits, artifacts: TrainingArtifacts) -> str | None:
        """None if the method can run here, else the reason it cannot."""
        if splits.scenario not in self.info.scenarios:
            return scenario_refusal(self.name, self.info, splits.scenario)
        missing = set(self.info.needs_artifacts) - artifacts.available()
        if missing:
            return f"{self.name} needs a base model trained with {', '.join(sorted(missing))}"
        return None

    def check_inputs(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: MethodConfig) -> None:
        """Raises UserInputError when `cfg` asks for something this model or data lacks (e.g. a layer name the
        model does not have). `Lab.run` calls it before a run is stored, so a user's mistake is refused up front
        (CLI exit 2) instead of failing the run; the default accepts everything `Config.validate` accepted."""
        return None

    @abstractmethod
    def unlearn(
        self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: MethodConfig,
        ctx: UnlearnContext,
    ) -> UnlearnResult:
        """Edits `model` (a private copy) so that it forgets the forget set."""


@dataclass
class Execution:
    """One method call: its result and how long it took (the method's own `seconds` when it reports one)."""

    result: UnlearnResult
    seconds: float


def execute_method(
    impl: UnlearningMethod,
    model: nn.Module,
    splits: Splits,
    artifacts: TrainingArtifacts,
    cfg: MethodConfig,
    ctx: UnlearnContext,
    timer: AbstractContextManager | None = None,
) -> Execution:
    """Calls `impl` the one way every caller does (Lab.run, the benchmarks, U-LiRA shadows, the contract tests).

    The method gets a private copy of `model` on `ctx.device` (the caller's model is never edited), the global
    torch seed is set to `ctx.seed` first, and the call alone is timed. `timer` is an optional context manager
    entered around the call only (the benchmarks' memory and CPU-time measurement); the wall time is measured in
    any case."""
    working = copy.deepcopy(model).to(ctx.device)
    torch.manual_seed(ctx.seed)
    with timer or contextlib.nullcontext():
        start = time.perf_counter()
        result = impl.unlearn(working, splits, artifacts, cfg, ctx)
        seconds = time.perf_counter() - start
    return Execution(result, seconds if result.seconds is None else float(result.seconds))


def scenario_refusal(name: str, info: MethodInfo, scenario: str) -> str:
    """The one-line reason a method refuses a forgetting scenario."""
    reason = f"{name} supports {', '.join(info.scenarios)} forgetting, not {scenario} forgetting"
    return f"{reason}: {info.scenario_note}" if info.scenario_note else reason


METHODS: Registry[type[UnlearningMethod]] = Registry("method")


def panel_views(method: str, diagnostics: dict[str, Any], ctx: PanelContext) -> list[tuple[Panel, list[PanelFigure]]]:
    """The panels of `method` that this run's diagnostics can fill, each with its figures (empty ones dropped).

    The one mapping from diagnostics to figures and captions: the Inside page and the report both draw this. A run
    of a method that is no longer registered (its module was removed) has no panels."""
    if method not in METHODS:
        return []
    out = []
    for panel in METHODS.get(method).panels:
        if not has_diagnostic(diagnostics, panel.key):
            continue
        figures = panel.figures(diagnostics, ctx)
        if figures:
            out.append((panel, figures))
    return out


def whatif_hooks(method: str) -> list[Panel]:
    """The panels of `method` that carry a what-if hook (none for a method that is no longer registered)."""
    return [p for p in METHODS.get(method).panels if p.whatif is not None] if method in METHODS else []


def register_method(name: str) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    def decorator(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        if not isinstance(getattr(cls, "info", None), MethodInfo):
            raise TypeError(f"method {name!r} must define `info = MethodInfo(...)`")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, MethodConfig)):
            raise TypeError(f"method {name!r} must define a Config subclass of MethodConfig")
        if not (isinstance(cls.panels, tuple) and all(isinstance(p, Panel) for p in cls.panels)):
            raise TypeError(f"method {name!r}: `panels` must be a tuple of Panel")
        cls.name = name
        return METHODS.register(name)(cls)

    return decorator
