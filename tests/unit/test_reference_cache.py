"""Reference outputs (original and retrain oracle) are computed once per (model, data) and never go stale."""

from __future__ import annotations

import copy
import gc

import torch

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.device import eval_batch_size
from unlearn_core.metrics.evaluate import REFERENCES, ReferenceCache, model_outputs, predict_probs, reference_outputs
from unlearn_core.metrics.privacy import privacy_bundle


def test_entries_are_reused_until_a_weight_changes_in_place() -> None:
    cache, calls = ReferenceCache(), []
    model = torch.nn.Linear(3, 2)
    weight = model.weight

    def compute() -> float:
        calls.append(1)
        return float(weight.detach().sum())

    first = cache.get(model, ("sum",), compute)
    assert cache.get(model, ("sum",), compute) == first and len(calls) == 1
    with torch.no_grad():
        model.weight.add_(1.0)  # as an optimizer step or load_state_dict would
    assert abs(cache.get(model, ("sum",), compute) - (first + 6)) < 1e-5 and len(calls) == 2
    assert len(cache._entries[model]) == 1, "the stale entry is replaced, not kept"
    del model
    gc.collect()
    assert len(cache._entries) == 0, "entries go with their model"


def test_cached_reference_outputs_and_bundle_equal_fresh_ones(digits_base) -> None:
    splits = Splits.build(load_dataset("digits"), ForgetSpec(classes=(3,)), "cpu")
    original = digits_base.model
    retrain = copy.deepcopy(original)  # any fixed model serves as the reference here
    with torch.no_grad():
        next(retrain.parameters()).mul_(0.9)
    REFERENCES.clear()
    cached = reference_outputs(original, splits)
    assert reference_outputs(original, splits) is cached
    assert torch.equal(cached.train_probs, model_outputs(original, splits).train_probs)
    unlearned = copy.deepcopy(original)
    first = privacy_bundle(unlearned, original, retrain, splits, seed=0)
    second = privacy_bundle(unlearned, original, retrain, splits, seed=0)  # the references' parts from the cache
    REFERENCES.clear()
    assert first == second == privacy_bundle(unlearned, original, retrain, splits, seed=0)


def test_evaluation_batches_follow_the_device() -> None:
    assert eval_batch_size("cpu") == 256 and eval_batch_size(torch.device("cpu")) == 256
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x = torch.randn(600, 1, 2, 2)
    assert torch.allclose(predict_probs(model, x), predict_probs(model, x, batch_size=600), atol=1e-7)
