"""Contract tests over every registered method: metadata, typed config, progress, cancel, determinism."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.methods import (
    METHODS,
    MethodNotApplicable,
    UnlearnCancelled,
    UnlearnContext,
    execute_method,
    get_method,
    list_methods,
)
from unlearn_core.methods.base import SCENARIOS

ALL = list_methods()
# scenarios tried in order until the method accepts one (single images suit update-subtraction methods)
CANDIDATE_SCENARIOS = [ForgetSpec(classes=(3,)), ForgetSpec(indices=(0, 1))]


def test_the_reference_methods_are_registered():
    # every registered method is under contract (no list of allowed names: a new method file is picked up)
    assert {"retrain", "finetune", "gradient_ascent"} <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_metadata_and_typed_config(name):
    cls = METHODS.get(name)
    info = cls.info
    assert info.family in {"seed", "baseline", "oracle"}
    assert info.title and info.summary and info.paper
    assert set(info.scenarios) <= set(SCENARIOS) and info.scenarios
    cfg = cls.Config()
    cfg.validate()
    for spec in cls.Config.params():
        assert spec.help, f"{name}.{spec.name} needs help text for its form"
        if spec.choices is not None:
            assert spec.default in spec.choices
        elif spec.type in (int, float):
            assert spec.min is not None and spec.max is not None, f"{name}.{spec.name} needs a range"
            assert spec.min <= spec.default <= spec.max
    assert cls.Config.from_values({k: str(v) for k, v in cfg.to_dict().items()}) == cfg


@pytest.mark.parametrize("name", ALL)
def test_config_rejects_bad_values(name):
    cls = METHODS.get(name)
    with pytest.raises(UserInputError):
        cls.Config.from_values({"no_such_parameter": 1})
    for spec in cls.Config.params():
        if spec.type is float:
            with pytest.raises(UserInputError):
                cls.Config.from_values({spec.name: float("nan")})
        if spec.type in (int, float) and spec.max is not None:
            with pytest.raises(UserInputError):
                cls.Config.from_values({spec.name: spec.max + abs(spec.max) + 1})


def _applicable_splits(impl, base, dataset):
    reasons = []
    for spec in CANDIDATE_SCENARIOS:
        splits = Splits.build(dataset, spec)
        reason = impl.applicability(splits, base.artifacts)
        if reason is None:
            return splits
        reasons.append(reason)
    pytest.fail(f"{impl.name} applies to none of the contract scenarios: {reasons}")


def _unlearn(impl, base, splits, seed=0, stop=None, progress=None):
    ctx = UnlearnContext(torch.device("cpu"), seed, progress or (lambda f, m: None), stop or threading.Event())
    return execute_method(impl, base.model, splits, base.artifacts, impl.Config(), ctx).result


@pytest.mark.parametrize("name", ALL)
def test_runs_reports_progress_is_deterministic_and_leaves_the_original_alone(name, lab, digits_base):
    impl = get_method(name)
    dataset = lab.dataset(digits_base.spec)
    splits = _applicable_splits(impl, digits_base, dataset)
    before = {k: v.clone() for k, v in digits_base.model.state_dict().items()}
    fractions: list[float] = []
    try:
        first = _unlearn(impl, digits_base, splits, progress=lambda f, m: fractions.append(f))
    except MethodNotApplicable as exc:  # a method may refuse a scenario at run time, with its reason
        assert str(exc)
        return
    second = _unlearn(impl, digits_base, splits)
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)
    s1, s2 = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1), "same seed must give the same weights on CPU"
    assert all(torch.isfinite(v).all() for v in s1.values() if v.is_floating_point())
    assert isinstance(first.diagnostics, dict) and isinstance(first.notes, list)
    after = digits_base.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the base model must never be mutated"


@pytest.mark.parametrize("name", ALL)
def test_cancel_stops_the_method(name, lab, digits_base):
    impl = get_method(name)
    splits = _applicable_splits(impl, digits_base, lab.dataset(digits_base.spec))
    stop = threading.Event()
    stop.set()
    with pytest.raises((UnlearnCancelled, MethodNotApplicable)):
        _unlearn(impl, digits_base, splits, stop=stop)


def test_lab_run_reports_every_metric_finite(lab, digits_base):
    record = lab.run(digits_base.spec, ForgetSpec(classes=(3,)), "finetune", {"epochs": 1})
    assert record["status"] == "ok"
    from unlearn_core.metrics import list_metrics, metric_info

    for key in list_metrics():
        for source in (record["metrics"], record["original"], record["retrain"]):
            value = source[key]
            info = metric_info(key)
            values = value if info.per_class else [value]
            assert all(math.isfinite(v) for v in values), key
            assert all(info.lower <= v for v in values), key
            if info.upper is not None:
                assert all(v <= info.upper + 1e-9 for v in values), key
