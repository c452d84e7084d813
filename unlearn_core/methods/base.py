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

from unlearn_core import UserInputError
from unlearn_core.data import Splits
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
    min: float | None = None,  # noqa: A002  (mirrors the form vocabulary)
    max: float | None = None,  # noqa: A002
    help: str = "",  # noqa: A002
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
        values = dict(values or {})
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
    kind = spec.type
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in {"1", "true", "yes", "on"}:
                    return True
                if value.lower() in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if kind is float:
            return float(value)
        return str(value) if kind is str else value
    except (TypeError, ValueError):
        raise UserInputError(f"{spec.name} expects {kind.__name__}, got {value!r}") from None


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


class UnlearningMethod(ABC):
    name: ClassVar[str]
    info: ClassVar[MethodInfo]
    Config: ClassVar[type[MethodConfig]] = MethodConfig

    def applicability(self, splits: Splits, artifacts: TrainingArtifacts) -> str | None:
        """None if the method can run here, else the reason it cannot."""
        if splits.scenario not in self.info.scenarios:
            return scenario_refusal(self.name, self.info, splits.scenario)
        missing = set(self.info.needs_artifacts) - artifacts.available()
        if missing:
            return f"{self.name} needs a base model trained with {', '.join(sorted(missing))}"
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
    torch seed is set to `ctx.seed` first, and the call alone is timed.

    Args:
        timer: an optional context manager entered around the call only (the benchmarks' memory and CPU-time
            measurement); the wall time is measured in any case.
    """
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


def register_method(name: str) -> Callable[[type[UnlearningMethod]], type[UnlearningMethod]]:
    def decorator(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
        if not isinstance(getattr(cls, "info", None), MethodInfo):
            raise TypeError(f"method {name!r} must define `info = MethodInfo(...)`")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, MethodConfig)):
            raise TypeError(f"method {name!r} must define a Config subclass of MethodConfig")
        cls.name = name
        return METHODS.register(name)(cls)

    return decorator
