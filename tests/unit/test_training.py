"""Training loop: determinism, mnemonic codes, recorded updates and their pruning."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from unlearn_core import UserInputError
from unlearn_core.data import load_dataset
from unlearn_core.models.architectures import arch_info, build_model, list_architectures
from unlearn_core.models.training import TrainRecipe, make_codes, prune_per_layer, train_model

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small():
    ds = load_dataset("digits")
    return ds.x_train[:256], ds.y_train[:256]


def _train(small, recipe, seed=0, codes=None):
    torch.manual_seed(seed)
    model = build_model("cnn", (1, 8, 8), 10)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    out = train_model(model, *small, recipe, seed=seed, device=CPU, codes=codes)
    return initial, out


def test_same_seed_same_weights(small):
    recipe = TrainRecipe(epochs=2, batch_size=32)
    _, a = _train(small, recipe)
    _, b = _train(small, recipe)
    _, c = _train(small, recipe, seed=1)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_recorded_full_updates_sum_to_the_total_change(small):
    recipe = TrainRecipe(epochs=2, batch_size=32, record_updates=True, record_rho=1.0)
    initial, out = _train(small, recipe)
    log = out.updates
    assert log.num_steps == 2 * math.ceil(256 / 32)
    total = torch.stack([log.dense_step(t) for t in range(log.num_steps)]).sum(0)
    final = torch.cat([p.detach().flatten() for p in out.model.parameters()])
    start = torch.cat([initial[name].flatten() for name, _ in out.model.named_parameters()])
    assert torch.allclose(total, final - start, atol=1e-5)
    assert sorted(torch.cat(log.batch_ids[:8]).tolist()) == list(range(256))  # one epoch covers every sample once
    assert log.steps_touching(torch.tensor([0])) and len(log.steps_touching(torch.tensor([0]))) == 2


def test_pruning_keeps_each_layers_top_entries():
    delta = torch.tensor([0.1, -5.0, 0.2, 3.0, 0.0, 0.01, -0.02, 7.0])
    slices = [slice(0, 4), slice(4, 8)]
    positions, values = prune_per_layer(delta, slices, 0.5)
    assert positions.tolist() == [1, 3, 6, 7] and values.tolist() == pytest.approx([-5.0, 3.0, -0.02, 7.0])


def test_pruned_recording_stores_less_and_roundtrips(small):
    recipe = TrainRecipe(epochs=1, batch_size=64, record_updates=True, record_rho=0.1)
    _, out = _train(small, recipe)
    log = out.updates
    assert log.stored_bytes() < log.stored_bytes(rho=1.0) / 4
    from unlearn_core.models.training import UpdateLog

    again = UpdateLog.from_tensors(log.meta(), log.to_tensors())
    assert all(torch.equal(again.dense_step(t), log.dense_step(t)) for t in range(log.num_steps))


def test_mnemonic_codes_are_mixed_in_and_change_training(small):
    codes = make_codes(10, (1, 8, 8), seed=0)
    assert codes.shape == (10, 1, 8, 8) and 0 <= codes.min() and codes.max() < 1
    plain = TrainRecipe(epochs=2, batch_size=32)
    _, a = _train(small, plain)
    _, b = _train(small, replace(plain, mnemonic_t_mix=0.3), codes=codes)
    assert not torch.equal(a.model.f2.weight, b.model.f2.weight)
    with pytest.raises(ValueError):
        _train(small, replace(plain, mnemonic_t_mix=0.3))


@pytest.mark.parametrize("field, value", [("lr", float("nan")), ("lr", -1.0), ("epochs", 0), ("batch_size", 0),
                                          ("optimizer", "rmsprop"), ("record_rho", 0.0)])
def test_recipe_rejects_bad_values(field, value):
    with pytest.raises(UserInputError):
        replace(TrainRecipe(), **{field: value}).validate()


@pytest.mark.parametrize("arch", [a for a in list_architectures() if arch_info(a).source == "built-in"])
def test_every_architecture_builds_and_runs(arch):  # torchvision's: tests/unit/test_archs.py
    model = build_model(arch, (3, 32, 32), 7)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
