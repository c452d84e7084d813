"""Verdict words follow the documented thresholds; the multi-seed aggregation; the relearn probe."""

import pytest
import torch

from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.metrics.relearn import RelearnConfig, relearn_probe
from unlearn_core.metrics.seeds import aggregate, scalar_values
from unlearn_core.metrics.verdicts import FORGET_CLOSE, LOSS_AUC_CLOSE, verdict

ORIGINAL = {"forget_acc": 1.0, "mia_loss_auc": 0.52, "mia_efficacy": 0.0, "test_acc_retain_classes": 0.99}
RETRAIN = {"forget_acc": 0.0, "mia_loss_auc": 0.93, "mia_efficacy": 1.0, "test_acc_retain_classes": 0.99}


def run(**overrides):
    return {**RETRAIN, **overrides}


def test_words_for_each_regime():
    assert verdict(run(forget_acc=0.004, test_acc_retain_classes=0.982), ORIGINAL, RETRAIN)["label"] == "forgotten"
    assert verdict(run(forget_acc=0.01, mia_loss_auc=0.70), ORIGINAL, RETRAIN)["label"] == "looks forgotten"
    assert verdict(run(forget_acc=0.3), ORIGINAL, RETRAIN)["label"] == "partly forgotten"
    assert verdict(ORIGINAL, ORIGINAL, RETRAIN)["label"] == "not forgotten"
    assert verdict(RETRAIN, ORIGINAL, RETRAIN)["label"] == "forgotten"


def test_boundaries_are_the_documented_constants():
    inside = run(forget_acc=FORGET_CLOSE - 1e-9, mia_loss_auc=RETRAIN["mia_loss_auc"] + LOSS_AUC_CLOSE - 1e-9)
    assert verdict(inside, ORIGINAL, RETRAIN)["label"] == "forgotten"
    outside = run(forget_acc=FORGET_CLOSE + 1e-6)
    assert verdict(outside, ORIGINAL, RETRAIN)["label"] != "forgotten"


def test_random_forgetting_regimes():
    original = {**ORIGINAL, "forget_acc": 0.99}
    retrain = {**RETRAIN, "forget_acc": 0.98, "mia_loss_auc": 0.5, "mia_efficacy": 0.02}
    assert verdict({**retrain, "forget_acc": 0.985}, original, retrain)["label"] == "nothing to forget"
    assert verdict({**retrain, "forget_acc": 0.5}, original, retrain)["label"] == "over-forgotten"
    # accuracy still matches, but the SVC attack calls most forget images unseen (random labels' Streisand effect)
    marked = {**retrain, "forget_acc": 0.97, "mia_efficacy": 0.84}
    assert verdict(marked, original, retrain)["label"] == "looks forgotten"


def test_text_and_utility_words():
    v = verdict(run(forget_acc=0.004, test_acc_retain_classes=0.982), ORIGINAL, RETRAIN)
    assert v["text"].startswith("forgotten: forget accuracy 0.4% (retrain 0.0%)")
    assert "cannot tell it from retrain (AUC 0.93 vs 0.93)" in v["text"]
    assert "utility -0.8 points" in v["text"] and v["utility"] == "utility kept"
    assert verdict(run(test_acc_retain_classes=0.96), ORIGINAL, RETRAIN)["utility"] == "small utility cost"
    assert verdict(run(test_acc_retain_classes=0.80), ORIGINAL, RETRAIN)["utility"] == "utility damaged"


def test_missing_or_non_finite_values_are_left_out():
    v = verdict({"forget_acc": float("nan")}, ORIGINAL, RETRAIN)
    assert v["label"] == "not forgotten"
    assert "forget_acc" not in v["checks"] and "utility_points" not in v["checks"]


def test_seed_aggregation_mean_and_sample_std():
    per_seed = [{"seed": s, "runs": [{"method": "ga", "values": {"forget_acc": v}}]} for s, v in enumerate([0.1, 0.3])]
    (row,) = aggregate(per_seed)
    assert row["mean"] == pytest.approx(0.2) and row["std"] == pytest.approx(0.1414213, rel=1e-5) and row["n"] == 2
    values = scalar_values({"forget_acc": 0.5, "test_acc": float("nan"),
                            "privacy": {"attacks": {"svc_entropy": 0.25, "threshold": {"privacy_score": 0.9}}}})
    assert values == {"forget_acc": 0.5, "svc_entropy": 0.25, "threshold_privacy_score": 0.9}


def _toy_splits():
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 1, 4, 4, generator=gen) * 0.1 + y.view(-1, 1, 1, 1).float()
    data = ImageDataset("toy", x, y, x[:9], y[:9], ["a", "b", "c"], (0.0,), (1.0,))
    return Splits.build(data, ForgetSpec(classes=(2,)))


def test_relearn_probe_counts_steps_and_zero_for_a_model_that_never_forgot():
    splits = _toy_splits()
    torch.manual_seed(0)
    blank = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        blank[1].weight.zero_()
        blank[1].bias.copy_(torch.tensor([1.0, 0.0, -5.0]))  # predicts class 0: forget accuracy 0
    knows = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        knows[1].weight.zero_()
        knows[1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))  # predicts class 2: forget accuracy 1
    cfg = RelearnConfig(lr=0.1, max_steps=100)
    probe = relearn_probe(blank, knows, blank, splits, cfg)
    assert probe["target_acc"] == pytest.approx(0.9)
    assert probe["unlearned"]["curve"][0] == 0.0
    assert probe["unlearned"]["reached"] and probe["unlearned"]["steps"] >= 1
    assert probe["unlearned"]["steps"] == probe["retrain"]["steps"]  # same model, same seed
    assert relearn_probe(knows, knows, knows, splits, cfg)["unlearned"]["steps"] == 0
