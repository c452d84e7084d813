"""Amnesiac and partial amnesiac unlearning: subtraction of recorded updates, per-layer pruning, up-front refusal."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import MethodNotApplicable, UnlearnContext, get_method
from unlearn_core.methods._partial import subtract_recorded_updates
from unlearn_core.models.training import UpdateLog, keep_count, prune_per_layer

CPU = torch.device("cpu")
FEW_IMAGES = (5, 17, 42)


def _splits(**spec) -> Splits:
    return Splits.build(load_dataset("digits"), ForgetSpec(**spec), CPU)


def _run(name, base, splits, **params):
    method = get_method(name)
    edited = copy.deepcopy(base.model)
    result = method.unlearn(edited, splits, base.artifacts, method.Config.from_values(params), UnlearnContext(CPU))
    return edited, result


def test_partial_amnesiac_at_rho_1_equals_full_amnesiac_subtraction(digits_base):
    splits = _splits(indices=FEW_IMAGES)
    partial, _ = _run("partial_amnesiac", digits_base, splits, rho=1.0)
    full, result = _run("amnesiac", digits_base, splits, finetune_steps=0)
    for key, value in partial.state_dict().items():
        assert torch.equal(value, full.state_dict()[key]), key
    log = digits_base.artifacts.updates
    steps = log.steps_touching(splits.forget_idx)
    assert result.diagnostics["storage"]["steps_touched"] == len(steps) > 0
    # reference: theta minus the plain sum of the touched steps' dense updates
    total = torch.stack([log.values[t] for t in steps]).sum(0)
    for (name, p), sl in zip(digits_base.model.named_parameters(), log.layer_slices(), strict=True):
        expected = p.detach() - total[sl].view_as(p)
        assert torch.allclose(partial.get_parameter(name), expected, atol=1e-6), name


def _synthetic_log(model: nn.Module, steps: int, rho: float, seed: int) -> tuple[UpdateLog, UpdateLog]:
    """The same random updates stored dense and stored pruned at record time to rho."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    dense, pruned = UpdateLog(names, shapes, 1.0), UpdateLog(names, shapes, rho)
    gen = torch.Generator().manual_seed(seed)
    for t in range(steps):
        delta = torch.randn(dense.numel, generator=gen)
        for log in (dense, pruned):
            log.batch_ids.append(torch.tensor([t], dtype=torch.int32))
        dense.values.append(delta)
        dense.positions.append(torch.zeros(0, dtype=torch.int32))
        positions, values = prune_per_layer(delta, pruned.layer_slices(), rho)
        pruned.positions.append(positions)
        pruned.values.append(values)
    return dense, pruned


def test_pruning_a_full_log_at_unlearning_time_equals_pruning_at_record_time():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    rho = 0.2
    dense, pruned = _synthetic_log(model, steps=4, rho=rho, seed=0)
    steps = [0, 2, 3]
    from_dense, from_pruned = copy.deepcopy(model), copy.deepcopy(model)
    counts = subtract_recorded_updates(from_dense, dense, steps, rho)
    subtract_recorded_updates(from_pruned, pruned, steps, rho)
    for key, value in from_dense.state_dict().items():
        assert torch.allclose(value, from_pruned.state_dict()[key], atol=1e-6), key
    for (name, p), shape in zip(model.named_parameters(), dense.shapes, strict=True):
        moved = (from_dense.get_parameter(name) != p).sum().item()
        assert moved <= len(steps) * keep_count(p.numel(), rho)
        assert counts[name].shape == shape and counts[name].max().item() <= len(steps)
    with pytest.raises(ValueError, match="recorded at rho"):
        subtract_recorded_updates(copy.deepcopy(model), pruned, steps, 0.5)


def test_class_in_nearly_every_batch_is_refused_up_front_with_the_share(digits_base):
    splits = _splits(classes=(3,))
    log = digits_base.artifacts.updates
    touched = len(log.steps_touching(splits.forget_idx))
    assert touched / log.num_steps > 0.9
    with pytest.raises(MethodNotApplicable, match=f"{touched} of {log.num_steps}"):
        _run("partial_amnesiac", digits_base, splits)
    _, forced = _run("partial_amnesiac", digits_base, splits, force=True)
    assert forced.diagnostics["storage"]["steps_touched"] == touched
    assert any(f"{touched} of {log.num_steps}" in note for note in forced.notes)
    assert any("forced" in note for note in forced.notes)


def test_storage_diagnostics_follow_rho_and_masks_count_subtracted_steps(lab, digits_base):
    splits = _splits(indices=FEW_IMAGES)
    _, result = _run("partial_amnesiac", digits_base, splits, rho=0.05)
    storage, masks = result.diagnostics["storage"], result.diagnostics["masks"]
    log = digits_base.artifacts.updates
    mb = 1024 * 1024
    assert storage["stored_mb"] == pytest.approx(log.stored_bytes(0.05) / mb)
    assert storage["full_mb"] == pytest.approx(log.stored_bytes(1.0) / mb)
    # the figure in the run's note is what the base model's file really holds (codes and header aside)
    on_disk = (lab.store.root / "models" / digits_base.key / "artifacts.safetensors").stat().st_size
    assert storage["recorded_rho"] == 1.0 and 0 <= on_disk - storage["recorded_mb"] * mb < 64 * 1024
    assert any(f"takes {storage['recorded_mb']:.1f} MB in its model file" in note for note in result.notes)
    assert [p["rho"] for p in storage["curve"]] == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    sizes = [p["stored_mb"] for p in storage["curve"]]
    assert sizes == sorted(sizes)
    assert masks["c1.weight"]["count"].shape == (32, 9)
    assert masks["f2.bias"]["count"].shape == (1, 10)
    assert masks["f1.weight"]["count"].max().item() <= storage["steps_touched"]
    assert 0 < masks["f1.weight"]["updated_fraction"] <= 1


def test_amnesiac_fine_tune_recovers_retain_accuracy_after_subtraction(digits_base):
    splits = _splits(classes=(3,))
    _, result = _run("amnesiac", digits_base, splits, finetune_steps=30, eval_every=10)
    history = result.diagnostics["history"]
    assert [h["step"] for h in history] == [0, 10, 20, 30]
    assert history[-1]["retain_acc"] > history[0]["retain_acc"]
    assert any("most of training" in note for note in result.notes)


@pytest.mark.parametrize("chunk_entries", [1, 2 * 48, 1 << 23])  # one step, two steps, every step per block
def test_blockwise_pruning_gives_the_plain_loops_weights_bit_for_bit(monkeypatch, chunk_entries):
    """Steps are pruned a block at a time for speed; the weights equal those of pruning and subtracting one step
    after another (the reference loop below), whatever the block size."""
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))  # 53 parameters
    rho = 0.3
    dense, _ = _synthetic_log(model, steps=5, rho=rho, seed=1)
    steps = [0, 1, 3, 4]
    monkeypatch.setattr("unlearn_core.methods._partial.PRUNE_CHUNK_ENTRIES", chunk_entries)
    edited = copy.deepcopy(model)
    counts = subtract_recorded_updates(edited, dense, steps, rho)
    total = torch.zeros(dense.numel)
    touched = torch.zeros(dense.numel, dtype=torch.int32)
    for t in steps:
        positions, values = prune_per_layer(dense.dense_step(t), dense.layer_slices(), rho)
        total[positions.long()] += values
        touched[positions.long()] += 1
    for (name, p), sl in zip(model.named_parameters(), dense.layer_slices(), strict=True):
        assert torch.equal(edited.get_parameter(name), p.detach() - total[sl].view_as(p)), name
        assert torch.equal(counts[name], touched[sl].view_as(p)), name


def test_a_log_recorded_at_rho_is_subtracted_as_stored_bit_for_bit():
    """A log pruned when it was recorded (the paper's storage) is subtracted without pruning again: the same
    weights and counts as pruning the dense log at unlearning time."""
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    rho = 0.3
    dense, pruned = _synthetic_log(model, steps=5, rho=rho, seed=2)
    steps = [1, 2, 4]
    from_dense, from_pruned = copy.deepcopy(model), copy.deepcopy(model)
    dense_counts = subtract_recorded_updates(from_dense, dense, steps, rho)
    pruned_counts = subtract_recorded_updates(from_pruned, pruned, steps, rho)
    for name, value in from_dense.named_parameters():
        assert torch.equal(value, from_pruned.get_parameter(name)), name
        assert torch.equal(dense_counts[name], pruned_counts[name]), name
