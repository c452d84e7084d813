"""The baselines do what defines them: SSD only shrinks selected weights, SalUn only moves masked ones, l1-sparse
ends sparser than fine-tuning, SCRUB without max-steps is plain distillation, NegGrad+ with beta 1 is retain
fine-tuning, gradient ascent climbs the forget loss; and every baseline runs on digits class 3 with finite metrics."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import UnlearnContext, get_method, list_methods
from unlearn_core.methods.fisher_forgetting import diagonal_fisher
from unlearn_core.methods.random_label import draw_random_labels
from unlearn_core.methods.salun import saliency_masks
from unlearn_core.methods.ssd import importance_orders, squared_gradient_importance

CPU = torch.device("cpu")
MINE = ["neggrad_plus", "random_label", "salun", "l1_sparse", "ssd", "scrub", "fisher_forgetting"]


@pytest.fixture(scope="module")
def splits3() -> Splits:
    return Splits.build(load_dataset("digits"), ForgetSpec(classes=(3,)), CPU)


def _run(name: str, model: nn.Module, splits: Splits, seed: int = 0, **params):
    method = get_method(name)
    cfg = method.Config.from_values(params)
    edited = copy.deepcopy(model)
    result = method.unlearn(edited, splits, None, cfg, UnlearnContext(CPU, seed=seed))
    return result.model, result


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_all_baselines_are_registered_as_baselines():
    assert set(MINE) <= set(list_methods("baseline"))


def test_ssd_only_shrinks_and_leaves_unselected_parameters_exactly(digits_base, splits3):
    original = digits_base.model
    edited, result = _run("ssd", original, splits3)
    ctx = UnlearnContext(CPU)
    xd, yd = splits3.train()
    probe = copy.deepcopy(original).eval()
    d_order, f_order = importance_orders(splits3, "official", ctx.generator(0))
    forget_imp = squared_gradient_importance(probe, xd, yd, f_order, 64, ctx, (0, 1), "forget set")
    train_imp = squared_gradient_importance(probe, xd, yd, d_order, 64, ctx, (0, 1), "training set")
    after = dict(edited.named_parameters())
    dampened = 0
    for name, before in original.named_parameters():
        now = after[name].detach()
        assert torch.all(now.abs() <= before.detach().abs()), f"{name}: a parameter grew"
        selected = forget_imp[name] > 10.0 * train_imp[name]
        assert torch.equal(now[~selected], before.detach()[~selected]), f"{name}: an unselected parameter moved"
        mask = result.diagnostics["masks"][name]["count"].reshape(-1).bool()
        assert torch.equal(mask, selected.flatten()), name
        assert result.diagnostics["dampened_share"][name] == pytest.approx(selected.float().mean().item())
        dampened += int((now != before.detach()).sum())
    assert dampened > 0


def test_salun_changes_only_masked_parameters(digits_base, splits3):
    original = digits_base.model
    edited, result = _run("salun", original, splits3, epochs=2, gamma=0.3)
    xf, yf = splits3.forget()
    masks = saliency_masks(copy.deepcopy(original), xf, yf, 0.3, 256, CPU)
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == int(total * 0.3)
    after = dict(edited.named_parameters())
    moved = 0
    for name, before in original.named_parameters():
        changed = after[name].detach() != before.detach()
        assert not torch.any(changed & ~masks[name]), f"{name}: a parameter outside the saliency mask moved"
        assert torch.equal(result.diagnostics["masks"][name]["count"].reshape(-1).bool(), masks[name].flatten())
        moved += int(changed.sum())
    assert moved > 0
    assert sum(result.diagnostics["mask_share"].values()) == pytest.approx(1.0)


def test_l1_sparse_ends_with_a_smaller_l1_norm_than_fine_tuning(digits_base, splits3):
    shared = {"epochs": 2, "lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 64}
    sparse, result = _run("l1_sparse", digits_base.model, splits3, alpha=3e-3, **shared)
    plain, _ = _run("finetune", digits_base.model, splits3, **shared)
    sparse_l1, plain_l1 = _flat(sparse).abs().sum().item(), _flat(plain).abs().sum().item()
    assert sparse_l1 < plain_l1
    history = result.diagnostics["history"]
    assert history[-1]["l1_norm"] == pytest.approx(sparse_l1, rel=1e-5)
    assert [h["alpha"] for h in history] == pytest.approx([3e-3, 1.5e-3])


def _hand_written_min_steps(original: nn.Module, splits: Splits, epochs: int, lr: float, alpha: float,
                            gamma: float, temperature: float, seed: int) -> nn.Module:
    """SCRUB's min-step written out: Adam (weight decay 0.1) on gamma * CE + alpha * T^2 * KL(teacher || student)
    over retain batches of 32 drawn from the method's retain stream (the run generator with offset 1); the
    learning-rate decay starts after epoch 5, so it does not act in short runs."""
    teacher = copy.deepcopy(original).eval()
    student = copy.deepcopy(original).train()
    opt = torch.optim.Adam(student.parameters(), lr=lr, weight_decay=0.1)
    gen = UnlearnContext(CPU, seed=seed).generator(1)
    x, y = splits.retain()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), 32):
            idx = order[start : start + 32]
            logits = student(x[idx])
            with torch.no_grad():
                target = F.softmax(teacher(x[idx]) / temperature, dim=1)
            log_s = F.log_softmax(logits / temperature, dim=1)
            kl = (target * (target.log() - log_s)).sum(dim=1).mean() * temperature**2
            loss = gamma * F.cross_entropy(logits, y[idx]) + alpha * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
    return student


def test_scrub_without_max_steps_is_its_min_step_distillation(digits_base, splits3):
    params = {"epochs": 2, "msteps": 0, "lr": 5e-4, "alpha": 0.5, "gamma": 1.0, "kd_T": 2.0}
    edited, result = _run("scrub", digits_base.model, splits3, **params)
    reference = _hand_written_min_steps(digits_base.model, splits3, 2, 5e-4, 0.5, 1.0, 2.0, seed=0)
    assert torch.allclose(_flat(edited), _flat(reference), atol=1e-5)
    assert [h["phase"] for h in result.diagnostics["history"]] == ["min", "min"]


def test_scrub_history_alternates_max_and_min_steps(digits_base, splits3):
    _, result = _run("scrub", digits_base.model, splits3, epochs=3, msteps=2)
    history = result.diagnostics["history"]
    assert [(h["epoch"], h["phase"]) for h in history] == [(1, "max"), (1, "min"), (2, "max"), (2, "min"), (3, "min")]
    assert history[0]["kl_forget"] > 0
    for h in history:
        assert {"kl_forget", "loss_retain", "forget_acc", "retain_acc"} <= set(h)


def test_neggrad_plus_with_beta_one_is_retain_fine_tuning(digits_base, splits3):
    shared = {"epochs": 1, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 64}
    negplus, result = _run("neggrad_plus", digits_base.model, splits3, beta=1.0, **shared)
    plain, _ = _run("finetune", digits_base.model, splits3, **shared)
    assert torch.allclose(_flat(negplus), _flat(plain), atol=1e-6)
    assert result.diagnostics["history"][0]["loss_forget"] > 0


def test_gradient_ascent_raises_the_forget_loss_at_every_step(digits_base, splits3):
    # one batch holding the whole forget set, so each recorded loss is the forget loss before that step
    _, result = _run("gradient_ascent", digits_base.model, splits3, epochs=20, lr=2e-3, batch_size=4096,
                     stop_forget_acc=0.5)
    steps = result.diagnostics["step_loss"]
    assert len(steps) >= 3
    assert all(b > a for a, b in itertools.pairwise(steps)), steps
    history = result.diagnostics["history"]
    assert len(history) == 20 or history[-1]["forget_acc"] <= 0.5


def test_random_labels_uniform_or_wrong_only():
    y = torch.arange(10).repeat(200)
    wrong = draw_random_labels(y, 10, "wrong", torch.Generator().manual_seed(0))
    uniform = draw_random_labels(y, 10, "uniform", torch.Generator().manual_seed(0))
    assert not torch.any(wrong == y)
    assert torch.any(uniform == y)  # SalUn's draw keeps the true label with probability 1/C
    assert set(uniform.tolist()) == set(range(10))


def test_random_label_union_order_forgets(digits_base, splits3):
    _edited, result = _run("random_label", digits_base.model, splits3, order="shuffled_union", epochs=3)
    history = result.diagnostics["history"]
    assert history[-1]["forget_acc"] < 0.5
    assert history[-1]["retain_acc"] > 0.9


def test_fisher_matches_a_naive_per_class_loop(digits_base, splits3):
    model = copy.deepcopy(digits_base.model).eval()
    x, _ = splits3.retain()
    x = x[:3]
    fast = diagonal_fisher(model, x, 10, UnlearnContext(CPU))
    naive = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(len(x)):
        log_p = F.log_softmax(model(x[i : i + 1]), dim=1)[0]
        probs = log_p.exp().detach()
        for c in range(10):
            grads = torch.autograd.grad(log_p[c], list(model.parameters()), retain_graph=True)
            for (n, _), g in zip(model.named_parameters(), grads, strict=True):
                naive[n] += probs[c] * g**2 / len(x)
    for n in naive:
        assert torch.allclose(fast[n], naive[n], rtol=1e-4, atol=1e-10), n


def test_fisher_forgetting_shows_its_retain_cap(digits_base, splits3):
    _, result = _run("fisher_forgetting", digits_base.model, splits3, max_retain_samples=40)
    assert result.diagnostics["retain_samples_used"] == 40
    assert result.diagnostics["retain_samples_available"] == len(splits3.retain_idx)
    assert any("40 of" in note for note in result.notes)
    assert all(v > 0 for v in result.diagnostics["noise_scale"].values())


@pytest.mark.parametrize("name", MINE)
def test_baseline_runs_on_digits_class_3_with_finite_metrics(lab, name):
    record = lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), name, store_run=False)
    assert record["status"] == "ok", record["error"]
    for key in ("forget_acc", "retain_acc", "test_acc", "test_acc_retain_classes", "mia_efficacy", "avg_gap"):
        assert math.isfinite(record["metrics"][key]), key


def test_a_collapsing_baseline_is_reported_as_failed(lab):
    record = lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "neggrad_plus",
                     {"beta": 0.5, "lr": 0.5, "epochs": 3}, store_run=False)
    assert record["status"] == "failed"
    assert "diverged" in record["error"]


HISTORY_MONITORED = ["finetune", "l1_sparse", "neggrad_plus", "random_label", "salun", "scrub"]


@pytest.mark.parametrize("name", HISTORY_MONITORED)
def test_the_history_reads_a_retain_sample_and_never_changes_the_weights(
        name: str, digits_base, splits3, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-epoch retain accuracy is read on a fixed seeded sample (`_common.monitor_sample`): shrinking the
    sample changes the history's figures at most, never the trained weights (its generator is not a training
    stream)."""
    from unlearn_core.methods import _common

    params = {"epochs": 2}
    whole, whole_result = _run(name, digits_base.model, splits3, **params)
    monkeypatch.setattr(_common, "MONITOR_RETAIN_SAMPLES", 50)
    sampled, sampled_result = _run(name, digits_base.model, splits3, **params)
    assert torch.equal(_flat(whole), _flat(sampled))
    for row in sampled_result.diagnostics["history"]:
        # 50 images: a retain accuracy is a multiple of 1/50
        assert abs(row["retain_acc"] * 50 - round(row["retain_acc"] * 50)) < 1e-9
    assert len(whole_result.diagnostics["history"]) == len(sampled_result.diagnostics["history"])
