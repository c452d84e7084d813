"""Layer-wise partial updates: each step changes at most the top-rho_u of every layer, whatever the optimiser state."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import UnlearnContext, get_method
from unlearn_core.methods._partial import PartialStep, top_fraction_mask
from unlearn_core.models.training import accuracy, keep_count

CPU = torch.device("cpu")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def _loss(model: nn.Module, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (16,), generator=gen)
    return F.cross_entropy(model(x), y)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_a_partial_step_changes_at_most_rho_u_of_each_layer_despite_momentum(optimizer):
    model = _model()
    opt = (torch.optim.Adam(model.parameters(), lr=1e-2) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=1e-1, momentum=0.9))
    # a full step first, so the optimiser state would move every entry on the next step
    _loss(model, 0).backward()
    opt.step()
    rho_u = 0.05
    partial = PartialStep(model, opt, rho_u)
    opt.zero_grad()
    _loss(model, 1).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    partial.step()
    for name, p in model.named_parameters():
        changed = p.detach() != before[name]
        assert changed.sum().item() <= keep_count(p.numel(), rho_u), name
        assert not (changed & ~top_fraction_mask(grads[name], rho_u)).any(), name
        assert torch.equal(partial.counts[name], changed.to(torch.int32)), name


def test_rho_u_one_is_the_plain_optimiser_step():
    model, reference = _model(), _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    partial = PartialStep(model, opt, 1.0)
    for seed in range(3):
        for m, o in ((model, opt), (reference, ref_opt)):
            o.zero_grad()
            _loss(m, seed).backward()
        partial.step()
        ref_opt.step()
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key


def _run(name, base, splits, **params):
    method = get_method(name)
    edited = copy.deepcopy(base.model)
    result = method.unlearn(edited, splits, base.artifacts, method.Config.from_values(params), UnlearnContext(CPU))
    return edited, result


@pytest.mark.parametrize("name", ["partial_label_flip", "partial_gradient_ascent"])
def test_methods_forget_class_3_and_report_masks_and_history(digits_base, name):
    splits = Splits.build(load_dataset("digits"), ForgetSpec(classes=(3,)), CPU)
    edited, result = _run(name, digits_base, splits)
    d = result.diagnostics
    history = d["history"]
    assert set(history[0]) == {"epoch", "forget_acc", "retain_acc"}
    assert history[-1]["forget_acc"] <= 0.0
    assert accuracy(edited, *splits.test_forget()) <= 0.05
    kept_before = accuracy(digits_base.model, *splits.test_retain())
    assert accuracy(edited, *splits.test_retain()) >= kept_before - 0.05
    steps = len(history) * -(-len(splits.forget_idx) // 64)
    for param_name, p in edited.named_parameters():
        mask = d["masks"][param_name]
        changed = (p != digits_base.model.get_parameter(param_name)).reshape(mask["count"].shape)
        assert torch.equal(changed, mask["count"] > 0), param_name
        assert mask["count"].sum().item() <= steps * keep_count(p.numel(), 0.01), param_name
        assert mask["updated_fraction"] == pytest.approx(changed.float().mean().item())


def test_random_forgetting_stops_at_the_test_accuracy_level(digits_base):
    splits = Splits.build(load_dataset("digits"), ForgetSpec(random_fraction=0.1), CPU)
    _, result = _run("partial_gradient_ascent", digits_base, splits, epochs=30)
    level = accuracy(digits_base.model, *splits.test())
    history = result.diagnostics["history"]
    assert history[-1]["forget_acc"] <= level
    assert all(h["forget_acc"] > level for h in history[:-1])
    assert any("test accuracy" in note for note in result.notes)
