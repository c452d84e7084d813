"""Mnemonic-code unlearning: codes only (no training image), vmap Fisher = per-code loop, kappa rule, sign choice."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import UnlearnContext, get_method
from unlearn_core.methods.mnemonic import (
    _clean_log_ratio,
    code_scores,
    fisher_ratio,
    per_code_gradients,
    perturb,
    perturbation,
)
from unlearn_core.models.training import accuracy

CPU = torch.device("cpu")


class NoImagesSplits(Splits):
    """Splits whose data accessors raise: a method that reads any image fails the test."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("mnemonic read image data")

    forget = retain = train = test = test_forget = test_retain = test_class_mask = _refuse


def _splits(**spec) -> Splits:
    return Splits.build(load_dataset("digits"), ForgetSpec(**spec), CPU)


def _run(base, splits, **params):
    method = get_method("mnemonic")
    edited = copy.deepcopy(base.model)
    result = method.unlearn(edited, splits, base.artifacts, method.Config.from_values(params), UnlearnContext(CPU))
    return edited, result


def test_reads_no_training_image_and_fills_the_diagnostics_schema(digits_base):
    dataset = load_dataset("digits")
    guarded = NoImagesSplits.build(dataset, ForgetSpec(classes=(3,)), CPU)
    edited, result = _run(digits_base, guarded)
    d = result.diagnostics
    assert set(d) == {"fisher", "codes", "kappa", "sign", "sign_scores", "moved_share", "fisher_seconds"}
    names = [n for n, _ in digits_base.model.named_parameters()]
    assert list(d["fisher"]) == names and list(d["kappa"]) == names and list(d["moved_share"]) == names
    assert d["fisher"]["c1.weight"]["log_ratio"].shape == (32, 1 * 3 * 3)
    assert d["fisher"]["f1.weight"]["log_ratio"].shape == (128, 256)
    assert d["fisher"]["f2.bias"]["log_ratio"].shape == (1, 10)
    assert torch.equal(d["codes"], digits_base.artifacts.codes)
    assert d["sign"] in ("+", "-") and set(d["sign_scores"]) == {"+", "-"}
    assert set(d["moved_share"]["c2.weight"]) == {"1e-4", "1e-3", "1e-2"}
    changed = [n for n, p in edited.named_parameters() if not torch.equal(p, digits_base.model.get_parameter(n))]
    assert changed, "the perturbation must move the model"


def test_vmap_fisher_equals_a_plain_per_code_loop(digits_base):
    model = copy.deepcopy(digits_base.model).eval()
    codes = digits_base.artifacts.codes
    vmapped = per_code_gradients(model, codes)
    looped = {name: [] for name, _ in model.named_parameters()}
    for c in range(len(codes)):
        model.zero_grad()
        F.cross_entropy(model(codes[c : c + 1]), torch.tensor([c])).backward()
        for name, p in model.named_parameters():
            looped[name].append(p.grad.clone())
    forget = [3, 5]
    kept = [c for c in range(len(codes)) if c not in forget]
    ratios = fisher_ratio(model, codes, forget)
    for name, grads in looped.items():
        stacked = torch.stack(grads)
        # float32 sums differ by ~1e-8 between the batched and the looped backward pass
        assert torch.allclose(vmapped[name], stacked, rtol=1e-4, atol=1e-7), name
        for group in (forget, kept):
            assert torch.allclose((vmapped[name][group] ** 2).mean(0), (stacked[group] ** 2).mean(0),
                                  rtol=1e-3, atol=1e-13), name
        # the official floor: (1e-16 + sum of squares) / number of codes
        fisher_f = (1e-16 + (vmapped[name][forget] ** 2).sum(0)) / len(forget)
        fisher_r = (1e-16 + (vmapped[name][kept] ** 2).sum(0)) / len(kept)
        assert torch.allclose(ratios[name], torch.log(fisher_f) - torch.log(fisher_r), atol=1e-5), name


def test_log_ratio_cleaning_maps_nan_to_zero_and_inf_to_the_max_finite_value():
    raw = torch.tensor([1.0, float("nan"), float("inf"), -2.0, float("-inf"), 3.0])
    assert _clean_log_ratio(raw).tolist() == [1.0, 0.0, 3.0, -2.0, 3.0, 3.0]


def test_kappa_caps_the_largest_move_and_perturb_leaves_the_original_alone(digits_base):
    model = digits_base.model
    ratios = fisher_ratio(copy.deepcopy(model), digits_base.artifacts.codes, (3,))
    lambda1, lambda2 = 1e-3, 0.5
    deltas, kappas = perturbation(ratios, lambda1, lambda2)
    for name, ratio in ratios.items():
        s = torch.exp(ratio)
        assert kappas[name] == pytest.approx(min(lambda1, lambda2 / s.max().item()))
        assert deltas[name].max().item() <= lambda2 * (1 + 1e-6)
    before = {n: p.clone() for n, p in model.named_parameters()}
    minus = perturb(model, ratios, lambda1, lambda2, "-")
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name])
        assert torch.allclose(minus.get_parameter(name), p - deltas[name])


def test_sign_is_the_better_one_on_codes_and_class_3_is_forgotten(digits_base):
    splits = _splits(classes=(3,))
    edited, result = _run(digits_base, splits)
    d = result.diagnostics
    scores = d["sign_scores"]
    assert d["sign"] == ("+" if scores["+"]["score"] > scores["-"]["score"] else "-")
    assert code_scores(edited, digits_base.artifacts.codes, (3,)) == scores[d["sign"]]
    x_forget_test, y_forget_test = splits.test_forget()
    x_kept, y_kept = splits.test_retain()
    assert accuracy(edited, x_forget_test, y_forget_test) <= 0.05
    assert accuracy(edited, x_kept, y_kept) >= accuracy(digits_base.model, x_kept, y_kept) - 0.05


def test_forced_sign_is_recorded_against_the_papers_choice(digits_base):
    _edited, result = _run(digits_base, _splits(classes=(3,)))
    other = "+" if result.diagnostics["sign"] == "-" else "-"
    _, forced = _run(digits_base, _splits(classes=(3,)), sign=other)
    assert forced.diagnostics["sign"] == other
    assert any("would have chosen" in note for note in forced.notes)


def test_non_class_scenarios_are_refused_because_codes_are_per_class(digits_base):
    reason = get_method("mnemonic").applicability(_splits(random_fraction=0.1), digits_base.artifacts)
    assert reason is not None and "one code per class" in reason
