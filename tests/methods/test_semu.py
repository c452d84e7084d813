"""SEMU: edits stay inside the SVD subspaces of the forget gradient, with sum r^2 / I*r^2 trainable parameters."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import UnlearnContext, get_method
from unlearn_core.methods.semu import LowRankCore, rank_from_energy, ranks_for_tau
from unlearn_core.models.training import accuracy

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def splits3() -> Splits:
    return Splits.build(load_dataset("digits"), ForgetSpec(classes=(3,)), CPU)


def _run(model: nn.Module, splits: Splits, **params):
    method = get_method("semu")
    cfg = method.Config.from_values(params)
    edited = copy.deepcopy(model)
    result = method.unlearn(edited, splits, None, cfg, UnlearnContext(CPU, seed=0))
    return edited, result


def _subspace_projectors(weight: torch.Tensor, grad: torch.Tensor, rank: int):
    """Reference: projected gradient -> per-channel SVD -> projectors onto span(U_r) and span(V_r)."""
    grad = grad - (grad * weight).sum() / weight.norm() * weight  # the official code's projection (power 1)
    mats = grad.unsqueeze(0) if grad.dim() == 2 else grad.permute(1, 0, 2, 3).reshape(grad.shape[1], grad.shape[0], -1)
    u, _, vh = torch.linalg.svd(mats.double(), full_matrices=False)
    u, v = u[:, :, :rank], vh[:, :rank, :].transpose(1, 2)
    return u @ u.transpose(1, 2), v @ v.transpose(1, 2)


def test_weight_change_lies_in_the_gradient_subspaces_and_biases_stay(digits_base, splits3):
    original = digits_base.model
    # one batch, so the reference gradient is simply the mean CE gradient over the forget set
    edited, result = _run(original, splits3, epochs=3, lr=1e-2, batch_size=4096)
    spectra = result.diagnostics["spectra"]
    x, y = splits3.forget()
    weights = {n: m.weight for n, m in original.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    grads = torch.autograd.grad(F.cross_entropy(original(x), y), list(weights.values()))
    after = dict(edited.named_parameters())
    total_change = 0.0
    for (module, weight), grad in zip(weights.items(), grads, strict=True):
        name = f"{module}.weight"
        delta = (after[name] - weight).detach().double()
        total_change += delta.norm().item()
        left, right = _subspace_projectors(weight.detach(), grad, spectra[name]["rank"])
        per_channel = delta.unsqueeze(0) if delta.dim() == 2 else \
            delta.permute(1, 0, 2, 3).reshape(delta.shape[1], delta.shape[0], -1)
        inside = left @ per_channel @ right
        assert torch.allclose(inside, per_channel, atol=1e-5 * max(1.0, per_channel.abs().max().item())), name
        assert torch.equal(after[f"{module}.bias"], dict(original.named_parameters())[f"{module}.bias"])
    assert total_change > 0  # training did move the weights, so the check above was not vacuous


def test_trainable_count_is_r_squared_per_linear_and_channels_times_r_squared_per_conv(digits_base, splits3):
    _, result = _run(digits_base.model, splits3, epochs=1)
    spectra = result.diagnostics["spectra"]
    modules = {f"{n}.weight": m for n, m in digits_base.model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    assert set(spectra) == set(modules)
    expected_total = 0
    for name, module in modules.items():
        layer, r = spectra[name], spectra[name]["rank"]
        if isinstance(module, nn.Conv2d):
            channels, k2 = module.in_channels, module.kernel_size[0] * module.kernel_size[1]
            assert layer["kind"] == "conv"
            assert layer["singular_values"].shape == (channels, min(module.out_channels, k2))
            expected = channels * r * r
        else:
            assert layer["kind"] == "linear" and layer["singular_values"].shape[0] == 1
            expected = r * r
        assert layer["trainable"] == expected and layer["numel"] == module.weight.numel()
        assert layer["rank"] == rank_from_energy(layer["energy"], 0.95)
        expected_total += expected
    assert result.diagnostics["trainable_total"] == expected_total
    assert expected_total < 0.05 * sum(m.weight.numel() for m in modules.values())


def test_rank_rule_counts_components_up_to_tau():
    energy = torch.tensor([[0.5, 0.8, 0.95, 1.0], [0.97, 0.99, 1.0, 1.0]])
    assert rank_from_energy(energy, 0.95) == 3  # row 0: 0.5, 0.8, 0.95 <= 0.95
    assert rank_from_energy(energy, 0.9) == 2
    assert rank_from_energy(energy, 0.1) == 1  # never below one
    assert rank_from_energy(energy, 1.0) == 4


def test_ranks_for_tau_matches_a_rerun_with_that_tau(digits_base, splits3):
    _, result = _run(digits_base.model, splits3, epochs=1, tau=0.95)
    spectra = result.diagnostics["spectra"]
    assert ranks_for_tau(spectra, 0.95) == {n: (s["rank"], s["trainable"]) for n, s in spectra.items()}
    _, rerun = _run(digits_base.model, splits3, epochs=1, tau=0.6)
    rerun_spectra = rerun.diagnostics["spectra"]
    assert ranks_for_tau(spectra, 0.6) == {n: (s["rank"], s["trainable"]) for n, s in rerun_spectra.items()}
    low, high = ranks_for_tau(spectra, 0.3), ranks_for_tau(spectra, 0.99)
    assert all(low[n][0] <= high[n][0] for n in spectra)


@pytest.mark.parametrize("shape", [(6, 3, 3, 3), (5, 7)])
def test_core_starts_at_zero_and_maps_channels_like_the_paper(shape):
    gen = torch.Generator().manual_seed(0)
    channels = shape[1] if len(shape) == 4 else 1
    out_dim = shape[0]
    n = shape[2] * shape[3] if len(shape) == 4 else shape[1]
    u = torch.randn(channels, out_dim, 2, generator=gen)
    vh = torch.randn(channels, 2, n, generator=gen)
    core = LowRankCore(torch.Size(shape), u, vh)
    assert core.core.shape == (channels, 2, 2) and not core.core.any()
    assert torch.equal(core.delta(), torch.zeros(shape))  # the model is unchanged before training
    with torch.no_grad():
        core.core.normal_(generator=gen)
    delta = core.delta()
    for i in range(channels):
        expected = (u[i] @ core.core[i] @ vh[i]).detach()
        got = delta[:, i].reshape(out_dim, n) if len(shape) == 4 else delta
        assert torch.allclose(got, expected, atol=1e-6)


def test_forgets_class_3_with_defaults(digits_base, splits3):
    edited, result = _run(digits_base.model, splits3)
    assert accuracy(edited, *splits3.forget()) <= 0.05
    assert accuracy(edited, *splits3.test_retain()) >= accuracy(digits_base.model, *splits3.test_retain()) - 0.10
    history = result.diagnostics["history"]
    assert [h["epoch"] for h in history] == list(range(1, 21)) and result.diagnostics["early_exit_epoch"] is None
    # forget accuracy every epoch from the training steps' logits; retain accuracy measured at 5 epochs only, so
    # the history costs little next to the training itself
    assert set(history[0]) == {"epoch", "loss", "lr", "forget_acc"}
    assert [h["epoch"] for h in history if "retain_acc" in h] == [4, 8, 12, 16, 20]
    assert set(history[-1]) == {"epoch", "forget_acc", "retain_acc", "loss", "lr"}
    # the forget set is one batch, read before the first step: the original model's forget accuracy
    assert history[0]["forget_acc"] == pytest.approx(accuracy(digits_base.model, *splits3.forget()))


@pytest.mark.parametrize("use_retain_data", [False, True])
def test_history_does_not_change_the_trained_weights(digits_base, splits3, monkeypatch, use_retain_data):
    """The cheap history reads the training steps' logits and a separate sample: the weights are those of a run
    that monitors nothing."""
    monitored, _ = _run(digits_base.model, splits3, epochs=4, use_retain_data=use_retain_data)
    monkeypatch.setattr("unlearn_core.methods.semu.monitored_epochs", lambda epochs, points=5: set())
    silent, result = _run(digits_base.model, splits3, epochs=4, use_retain_data=use_retain_data)
    assert not any("retain_acc" in h for h in result.diagnostics["history"]) or use_retain_data
    assert all(torch.equal(p, q) for p, q in zip(monitored.state_dict().values(), silent.state_dict().values(),
                                                 strict=True))


def test_same_seed_same_weights(digits_base, splits3):
    a, _ = _run(digits_base.model, splits3, epochs=2)
    b, _ = _run(digits_base.model, splits3, epochs=2)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_early_exit_stops_when_the_score_stalls(digits_base):
    splits = Splits.build(load_dataset("digits"), ForgetSpec(random_fraction=0.1), CPU)
    _, result = _run(digits_base.model, splits, epochs=20, lr=1e-5, early_exit=True, patience=2)
    # a tiny learning rate leaves the score flat: two stalled epochs after the first, then stop
    assert result.diagnostics["early_exit_epoch"] == 3
    assert len(result.diagnostics["history"]) == 3


def test_batchnorm_statistics_stay_frozen(splits3):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 64, 10))
    model.eval()
    edited, result = _run(model, splits3, epochs=2, lr=1e-2)
    bn_before, bn_after = model[1], edited[1]
    assert torch.equal(bn_before.running_mean, bn_after.running_mean)
    assert torch.equal(bn_before.weight, bn_after.weight) and torch.equal(bn_before.bias, bn_after.bias)
    assert set(result.diagnostics["spectra"]) == {"0.weight", "4.weight"}
    assert not torch.equal(model[4].weight, edited[4].weight)
