"""Forget-set selection: classes, indices, random fractions, unions, and every invalid request."""

from __future__ import annotations

import pytest
import torch

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits, load_dataset, select_forget


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_class_forget_set_and_splits(digits):
    splits = Splits.build(digits, ForgetSpec(classes=(3,)))
    assert splits.scenario == "class" and splits.forget_classes == (3,)
    assert (digits.y_train[splits.forget_idx] == 3).all()
    assert len(splits.forget_idx) + len(splits.retain_idx) == len(digits.y_train)
    _, y_tf = splits.test_forget()
    _, y_tr = splits.test_retain()
    assert (y_tf == 3).all() and not (y_tr == 3).any() and len(y_tf) + len(y_tr) == len(digits.y_test)


def test_random_fraction_is_seeded_and_sized(digits):
    a = select_forget(ForgetSpec(random_fraction=0.1, seed=1), digits)
    b = select_forget(ForgetSpec(random_fraction=0.1, seed=1), digits)
    c = select_forget(ForgetSpec(random_fraction=0.1, seed=2), digits)
    assert torch.equal(a, b) and not torch.equal(a, c) and len(a) == 140
    splits = Splits.build(digits, ForgetSpec(random_fraction=0.1))
    assert splits.scenario == "random" and splits.forget_classes == ()


def test_union_of_classes_indices_and_random(digits):
    spec = ForgetSpec(classes=(1,), indices=(0, 5), random_fraction=0.05, seed=0)
    idx = set(select_forget(spec, digits).tolist())
    assert {0, 5} <= idx
    assert set(torch.nonzero(digits.y_train == 1).flatten().tolist()) <= idx
    assert spec.scenario == "mixed"
    assert ForgetSpec.from_dict(spec.to_dict()) == spec and spec.key == ForgetSpec.from_dict(spec.to_dict()).key


@pytest.mark.parametrize("spec, message", [
    (ForgetSpec(classes=(11,)), "out of range"),
    (ForgetSpec(classes=(-1,)), "out of range"),
    (ForgetSpec(classes=tuple(range(10))), "every class"),
    (ForgetSpec(indices=(3, 3)), "more than once"),
    (ForgetSpec(indices=(99999,)), "out of range"),
    (ForgetSpec(random_fraction=0.0), "strictly between"),
    (ForgetSpec(random_fraction=1.0), "strictly between"),
    (ForgetSpec(random_fraction=float("nan")), "strictly between"),
    (ForgetSpec(), "empty"),
])
def test_invalid_requests_are_clear_errors(digits, spec, message):
    with pytest.raises(UserInputError, match=message):
        select_forget(spec, digits)
