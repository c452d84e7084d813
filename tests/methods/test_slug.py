"""SLUG: one tensor per forgotten class, a Pareto front of layers, and a doubling-then-bisecting step search."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import MethodNotApplicable, UnlearnContext, get_method
from unlearn_core.methods.slug import apply_step, best_layer, best_step, pareto_front, search_step_size
from unlearn_core.models.training import accuracy

CPU = torch.device("cpu")


def _splits(**spec) -> Splits:
    return Splits.build(load_dataset("digits"), ForgetSpec(**spec), CPU)


def _run(model, splits, **params):
    method = get_method("slug")
    edited = copy.deepcopy(model)
    result = method.unlearn(edited, splits, None, method.Config.from_values(params), UnlearnContext(CPU, seed=0))
    return edited, result


def _changed(a, b) -> list[str]:
    sb = b.state_dict()
    return [k for k, v in a.state_dict().items() if not torch.equal(v, sb[k])]


def test_class_forgetting_changes_exactly_one_tensor_and_meets_the_target(digits_base):
    splits = _splits(classes=(3,))
    edited, result = _run(digits_base.model, splits)
    d = result.diagnostics
    assert _changed(edited, digits_base.model) == [d["chosen_layer"]]
    assert d["chosen_layer"] in d["pareto_front"]
    assert d["chosen_layer"] == best_layer(d["front_search"])["layer"]
    assert accuracy(edited, *splits.forget()) <= 0.0 + 1e-9
    chosen = next(e for e in d["step_search"] if e["lambda"] == d["lambda"])
    assert chosen["meets_target"]
    assert "per_class" not in d


def test_first_step_is_a_tenth_of_the_layer_norm_and_apply_step_reproduces_the_edit(digits_base):
    splits = _splits(classes=(3,))
    edited, result = _run(digits_base.model, splits)
    d = result.diagnostics
    weight = digits_base.model.get_parameter(d["chosen_layer"])
    lam0 = 0.1 * weight.norm().item() / d["gradient"].norm().item()
    assert d["step_search"][0]["lambda"] == pytest.approx(lam0, rel=1e-6)
    replayed = apply_step(copy.deepcopy(digits_base.model), d["chosen_layer"], d["gradient"], d["lambda"])
    for key, value in replayed.state_dict().items():
        assert torch.allclose(value, edited.state_dict()[key], atol=1e-6), key


def test_gradient_and_scores_match_a_direct_computation(digits_base):
    splits = _splits(classes=(3,))
    _, result = _run(digits_base.model, splits, retain_samples=10_000)
    model = digits_base.model
    xf, yf = splits.forget()
    xr, yr = splits.retain()
    layer = result.diagnostics["chosen_layer"]
    weight = model.get_parameter(layer)
    (gf,) = torch.autograd.grad(F.cross_entropy(model(xf), yf), [weight])
    (gr,) = torch.autograd.grad(F.cross_entropy(model(xr), yr), [weight])
    assert torch.allclose(result.diagnostics["gradient"], gf, atol=1e-6)
    score = next(s for s in result.diagnostics["layer_scores"] if s["layer"] == layer)
    assert score["importance"] == pytest.approx((gf.norm() / weight.norm()).item(), rel=1e-4)
    cos = (gf.flatten() @ gr.flatten()).abs() / (gf.norm() * gr.norm())
    assert score["alignment"] == pytest.approx(cos.item(), rel=1e-4)


def test_several_classes_one_tensor_step_per_class(digits_base):
    splits = _splits(classes=(1, 7))
    edited, result = _run(digits_base.model, splits)
    per_class = result.diagnostics["per_class"]
    assert [e["class"] for e in per_class] == [1, 7]
    assert set(_changed(edited, digits_base.model)) == {e["chosen_layer"] for e in per_class}
    assert len(per_class) == 2
    # replaying both recorded steps on the original gives the edited model: nothing else was touched
    replayed = copy.deepcopy(digits_base.model)
    for e in per_class:
        apply_step(replayed, e["chosen_layer"], e["gradient"], e["lambda"])
    assert all(torch.allclose(v, edited.state_dict()[k], atol=1e-6) for k, v in replayed.state_dict().items())


def test_named_layer_is_used_and_unknown_layer_is_refused(digits_base):
    splits = _splits(classes=(3,))
    edited, result = _run(digits_base.model, splits, layer="c1.weight", search_steps=3)
    assert result.diagnostics["chosen_layer"] == "c1.weight"
    assert _changed(edited, digits_base.model) == ["c1.weight"]
    with pytest.raises(MethodNotApplicable, match="not a candidate tensor"):
        _run(digits_base.model, splits, layer="f1.bias")


def test_random_forgetting_stops_at_the_held_out_accuracy(digits_base):
    splits = _splits(random_fraction=0.1)
    edited, result = _run(digits_base.model, splits)
    d = result.diagnostics
    assert d["forget_target"] == pytest.approx(accuracy(digits_base.model, *splits.test()))
    assert all(e["meets_target"] == (e["forget_acc"] <= d["forget_target"]) for e in d["step_search"])
    assert accuracy(edited, *splits.forget()) <= d["forget_target"]
    assert accuracy(edited, *splits.test()) >= accuracy(digits_base.model, *splits.test()) - 0.05


def _front_by_sweep(scores):
    """Reference by a different route: walk the layers from most to least important, one importance level at a
    time, keeping the lowest alignment seen at strictly higher importance; a layer is beaten iff it lies above it."""
    front, lowest_above = set(), math.inf
    for level in sorted({s["importance"] for s in scores}, reverse=True):
        group = [s for s in scores if s["importance"] == level]
        front |= {s["layer"] for s in group if s["alignment"] <= lowest_above}
        lowest_above = min(lowest_above, *(s["alignment"] for s in group))
    return [s["layer"] for s in scores if s["layer"] in front]


def test_pareto_front_matches_a_reference_on_random_scores_with_ties():
    rng = random.Random(0)
    for trial in range(200):
        scores = [{"layer": f"l{i}", "importance": rng.randint(0, 6) / 6, "alignment": rng.randint(0, 6) / 6}
                  for i in range(rng.randint(1, 12))]
        assert pareto_front(scores) == _front_by_sweep(scores), trial


def test_pareto_front_small_example():
    scores = [
        {"layer": "a", "importance": 3.0, "alignment": 0.5},
        {"layer": "b", "importance": 1.0, "alignment": 0.1},
        {"layer": "c", "importance": 2.0, "alignment": 0.6},  # beaten by a: more important and less aligned
        {"layer": "d", "importance": 3.0, "alignment": 0.7},  # tie on importance with a: not strictly beaten
    ]
    assert pareto_front(scores) == ["a", "b", "d"]


def test_step_search_doubles_until_the_target_then_bisects():
    threshold = 2.9  # a monotone oracle: forgetting succeeds for every lambda >= 2.9
    calls = []

    def oracle(lam):
        calls.append(lam)
        return {"forget_acc": max(0.0, 1 - lam / threshold), "retain_acc": 1.0, "meets_target": lam >= threshold}

    log = search_step_size(oracle, 0.5, 10)
    lams = [e["lambda"] for e in log]
    assert lams[:5] == [0.5, 1.0, 2.0, 4.0, 3.0]
    assert calls == lams and [e["step"] for e in log] == list(range(1, 11))
    lo, hi = 2.0, 4.0
    for lam in lams[4:]:
        assert lo < lam < hi
        if lam >= threshold:
            hi = lam
        else:
            lo = lam
    best = best_step(log)
    assert best["lambda"] == min(lam for lam in lams if lam >= threshold)
    assert best["lambda"] - threshold < 2.0 / 2**5 + 1e-12


def test_step_search_halves_when_the_first_step_already_meets_the_target():
    log = search_step_size(lambda lam: {"meets_target": lam >= 0.1, "retain_acc": 1.0 - lam}, 1.0, 6)
    assert [e["lambda"] for e in log] == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.09375]
    assert best_step(log)["lambda"] == 0.125  # the best retain accuracy among the hits


def test_best_step_prefers_utility_then_the_smaller_step_and_none_without_a_hit():
    log = [
        {"lambda": 2.0, "retain_acc": 0.9, "meets_target": True},
        {"lambda": 1.0, "retain_acc": 0.9, "meets_target": True},
        {"lambda": 0.5, "retain_acc": 1.0, "meets_target": False},
    ]
    assert best_step(log)["lambda"] == 1.0
    assert best_step([{"lambda": 1.0, "retain_acc": 1.0, "meets_target": False}]) is None
