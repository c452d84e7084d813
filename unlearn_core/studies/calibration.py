"""Calibrated settings for a method whose faithful defaults fail on a setting: one parameter searched on a held-out
seed, the value chosen by a stated rule, never by the metrics of the seeds a table reports.

The rule (`choose_setting`), on the held-out seed's own base model and retrain oracle:
1. a value qualifies when its run finishes and its accuracy on a fixed seeded sample of retain images (the
   *retain validation sample*) stays within `tolerance` (2 points by default) of the original model's on the same
   sample: forgetting must not cost the kept data;
2. among those, the chosen value is the one whose forget accuracy is closest to the held-out seed's retrain
   oracle's (0 for a forgotten class; about the test accuracy for random forgetting, where a retrain has simply
   not seen the images);
3. ties go to the value tried first (the list starts from the faithful default and moves away from it).
When no value qualifies there is no calibrated setting, and the search says why.

Test images are never read. The retain validation sample and the forget set are training images of the held-out
seed's models, which the reported seeds never see as models (their data subset is the same: the seed changes the
initialisation, the batch order and the method's randomness, not which images are used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.methods import get_method
from unlearn_core.methods._common import accuracy, seeded_sample
from unlearn_core.methods.base import MethodDiverged, UnlearnContext, execute_method

if TYPE_CHECKING:
    from unlearn_core.experiment import ExperimentSpec, Lab

RETAIN_SAMPLE = 2000  # retain images of the retain validation sample
RETAIN_SAMPLE_STREAM = 4242  # its generator seed offset, apart from every method's streams
DEFAULT_TOLERANCE = 0.02  # two points of retain accuracy


@dataclass(frozen=True)
class Trial:
    """One value tried: its accuracies on the held-out seed (None when the run failed, `error` then says why)."""

    value: Any
    retain_acc: float | None
    forget_acc: float | None
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Choice:
    """The chosen value (None: no value qualified) and the rule's reason, in a sentence."""

    value: Any
    reason: str


def rule_text(tolerance: float = DEFAULT_TOLERANCE, sample: int = RETAIN_SAMPLE) -> str:
    return (f"among the values whose retain accuracy on a seeded sample of {sample:,} retain images stays within "
            f"{100 * tolerance:g} points of the original model's, the one whose forget accuracy is closest to the "
            "held-out seed's retrain oracle's (ties: the value tried first)")


def choose_setting(trials: Sequence[Trial], original_retain_acc: float, oracle_forget_acc: float,
                   tolerance: float = DEFAULT_TOLERANCE) -> Choice:
    """The rule of the module docstring, a pure function of the trials."""
    if not trials:
        raise UserInputError("no values were tried")
    if not (math.isfinite(original_retain_acc) and math.isfinite(oracle_forget_acc)) or tolerance < 0:
        raise UserInputError("the original's retain accuracy and the oracle's forget accuracy must be finite, "
                             "the tolerance non-negative")
    qualified = [t for t in trials if not t.error and t.retain_acc is not None and t.forget_acc is not None
                 and t.retain_acc >= original_retain_acc - tolerance]
    if not qualified:
        failed = sum(1 for t in trials if t.error)
        kept = max((t.retain_acc for t in trials if t.retain_acc is not None), default=None)
        why = f"{failed} of {len(trials)} runs failed" if failed else f"{len(trials)} values tried"
        if kept is not None:
            why += (f"; the best retain accuracy was {kept:.3f}, more than {100 * tolerance:g} points below the "
                    f"original's {original_retain_acc:.3f}")
        return Choice(None, f"no value qualifies ({why})")
    best = min(qualified, key=lambda t: abs(t.forget_acc - oracle_forget_acc))  # min keeps the first of ties
    return Choice(best.value, f"forget accuracy {best.forget_acc:.3f} (oracle {oracle_forget_acc:.3f}) with retain "
                              f"accuracy {best.retain_acc:.3f} (original {original_retain_acc:.3f}), the closest of "
                              f"{len(qualified)} qualifying value{'s' if len(qualified) > 1 else ''}")


@dataclass(frozen=True)
class Search:
    """A whole calibration search: what was tried on which seed, the references, and the choice."""

    method: str
    param: str
    faithful: Any
    seed: int
    scenario: str
    original_retain_acc: float
    original_forget_acc: float
    oracle_forget_acc: float
    tolerance: float
    trials: tuple[Trial, ...]
    choice: Choice

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Search:
        fields = dict(data)
        fields["trials"] = tuple(Trial(**t) for t in fields["trials"])
        fields["choice"] = Choice(**fields["choice"])
        return cls(**fields)


def retain_validation_sample(splits: Splits, seed: int, count: int = RETAIN_SAMPLE
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + RETAIN_SAMPLE_STREAM)
    return seeded_sample(*splits.retain(), count, generator)


def search(lab: Lab, experiment: ExperimentSpec, forget: ForgetSpec, method: str, param: str,
           values: Sequence[Any], seed: int, tolerance: float = DEFAULT_TOLERANCE) -> Search:
    """Runs `method` with each of `values` for `param` (its other parameters at their defaults) on the base model of
    `experiment` trained with `seed`, measures the trials and applies `choose_setting`.

    The base model and the oracle of the held-out seed are trained once and cached in `lab`'s store like any
    other. The first value should be the method's faithful default."""
    impl = get_method(method)
    if not any(p.name == param for p in impl.Config.params()):
        raise UserInputError(f"{method} has no parameter {param!r}")
    spec = replace(experiment, seed=int(seed)).resolved()
    refusal = lab.applicability(method, spec, forget)
    if refusal:
        raise UserInputError(f"{method} cannot be calibrated here: {refusal}")
    base = lab.base_model(spec)
    oracle = lab.retrain_oracle(base, forget)
    splits = Splits.build(lab.dataset(spec), forget, lab.device)
    x_keep, y_keep = retain_validation_sample(splits, int(seed))
    x_forget, y_forget = splits.forget()
    trials = []
    for value in values:
        cfg = impl.Config.from_values({param: value})
        try:
            run = execute_method(impl, base.model, splits, base.artifacts, cfg,
                                 UnlearnContext(device=lab.device, seed=int(seed)))
        except MethodDiverged as exc:
            trials.append(Trial(getattr(cfg, param), None, None, error=str(exc)))
            continue
        model = run.result.model
        trials.append(Trial(getattr(cfg, param), accuracy(model, x_keep, y_keep), accuracy(model, x_forget, y_forget),
                            run.seconds))
    original_retain = accuracy(base.model, x_keep, y_keep)
    oracle_forget = accuracy(oracle.model, x_forget, y_forget)
    return Search(method, param, getattr(impl.Config(), param), int(seed), splits.scenario, original_retain,
                  accuracy(base.model, x_forget, y_forget), oracle_forget, tolerance, tuple(trials),
                  choose_setting(trials, original_retain, oracle_forget, tolerance))


__all__ = [
    "DEFAULT_TOLERANCE",
    "RETAIN_SAMPLE",
    "Choice",
    "Search",
    "Trial",
    "choose_setting",
    "retain_validation_sample",
    "rule_text",
    "search",
]
