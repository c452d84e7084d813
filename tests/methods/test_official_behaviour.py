"""Where the official code's behaviour decides the result (methods.md section 11), one test each: mnemonic's
Fisher floor and tie rule, SSD's batch composition, SLUG's search over every front layer and its candidates,
SEMU's train-mode gradient pass on BatchNorm and its scheduler, SalUn's mask batch, SCRUB's schedule."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.methods import UnlearnContext, get_method
from unlearn_core.methods.base import PanelContext
from unlearn_core.methods.mnemonic import choose_sign, fisher_ratio
from unlearn_core.methods.salun import saliency_masks
from unlearn_core.methods.scrub import scheduled_lr
from unlearn_core.methods.semu import project_out_weight
from unlearn_core.methods.slug import best_layer, candidate_tensors
from unlearn_core.methods.ssd import COMPOSITIONS_PANEL, importance_orders
from unlearn_core.viz import inside

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _splits(dataset, **spec) -> Splits:
    return Splits.build(dataset, ForgetSpec(**spec), CPU)


def _run(name: str, model: nn.Module, splits: Splits, artifacts=None, **params):
    method = get_method(name)
    edited = copy.deepcopy(model)
    result = method.unlearn(edited, splits, artifacts, method.Config.from_values(params), UnlearnContext(CPU, seed=0))
    return edited, result


class TinyBN(nn.Module):
    """conv -> BatchNorm -> ReLU -> linear on 1x8x8 inputs: small enough for many epochs, with BatchNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


# ---- mnemonic code ----------------------------------------------------------------------------------------
class WithIdleParameter(nn.Module):
    """A linear classifier plus a parameter no code reaches: its gradient is zero on every code."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.idle = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_mnemonic_fisher_floor_is_added_before_dividing_by_the_number_of_codes():
    torch.manual_seed(0)
    model = WithIdleParameter()
    codes = torch.rand(3, 1, 2, 2)
    ratios = fisher_ratio(model, codes, (0,))
    # zero gradient everywhere: F_f = 1e-16 / 1, F_r = 1e-16 / 2, so the ratio is n_kept / n_forget = 2, not 1
    assert torch.allclose(ratios["idle"], torch.full((2,), math.log(2.0)))
    grads = [torch.autograd.grad(F.cross_entropy(model(codes[c : c + 1]), torch.tensor([c])), model.fc.weight)[0]
             for c in range(3)]
    sq = torch.stack(grads) ** 2
    expected = torch.log((1e-16 + sq[:1].sum(0)) / 1) - torch.log((1e-16 + sq[1:].sum(0)) / 2)
    assert torch.allclose(ratios["fc.weight"], expected, atol=1e-5)


def test_mnemonic_tie_between_the_signs_picks_theta_minus(digits_base, digits):
    assert choose_sign({"+": {"score": 1.5}, "-": {"score": 1.5}}) == "-"
    assert choose_sign({"+": {"score": 1.6}, "-": {"score": 1.5}}) == "+"
    # a move far too small to change any code's prediction: both signs score the same on the codes
    _, result = _run("mnemonic", digits_base.model, _splits(digits, classes=(3,)), digits_base.artifacts,
                     lambda1=1e-8)
    scores = result.diagnostics["sign_scores"]
    assert scores["+"]["score"] == scores["-"]["score"]
    assert result.diagnostics["sign"] == "-"
    assert any("official rule then takes '-'" in note for note in result.notes)


# ---- SSD --------------------------------------------------------------------------------------------------
def test_ssd_official_batches_are_class_grouped_and_select_fewer_parameters_than_shuffled(digits_base, digits):
    splits = _splits(digits, classes=(3,))
    d_order, f_order = importance_orders(splits, "official", torch.Generator().manual_seed(0))
    y = digits.y_train
    retain_part, forget_part = d_order[: len(splits.retain_idx)], d_order[len(splits.retain_idx) :]
    assert torch.equal(forget_part, f_order) and bool((y[forget_part] == 3).all())
    labels = y[retain_part]
    assert bool((labels[1:] >= labels[:-1]).all()), "retain set grouped class by class"
    _edited, result = _run("ssd", digits_base.model, splits, compare_compositions=True)
    d = result.diagnostics
    assert d["composition"] == "official" and d["batch_size"] == 64
    official, shuffled = d["compositions"]["official"], d["compositions"]["shuffled"]
    assert official["applied"] and not shuffled["applied"]
    # single-class batches do not cancel, so []_D is larger and fewer parameters pass []_Df > alpha []_D
    assert official["selected"] < shuffled["selected"]
    assert official["test_acc_retain_classes"] > shuffled["test_acc_retain_classes"]
    assert sum(int(m["count"].sum()) for m in d["masks"].values()) == official["selected"]
    figure = inside.ssd_compositions(d["compositions"])  # the Inside page's teaching view of this run
    assert list(figure.data[0].y) == [official["selected"], shuffled["selected"]]
    # the default computes only the applied composition, as the official code (one pass over D), and says so
    _, random_result = _run("ssd", digits_base.model, _splits(digits, random_fraction=0.1))
    assert random_result.diagnostics["batch_size"] == 128
    assert set(random_result.diagnostics["compositions"]) == {"official"}
    ctx = PanelContext("ssd", tuple(digits.class_names), {}, ())
    note, = COMPOSITIONS_PANEL.figures(random_result.diagnostics, ctx)
    assert note.figure is None and "compare_compositions" in note.caption


# ---- SLUG -------------------------------------------------------------------------------------------------
def test_slug_searches_every_front_layer_and_keeps_the_best_by_the_stated_rule(digits_base, digits):
    splits = _splits(digits, classes=(7,))
    edited, result = _run("slug", digits_base.model, splits, search_steps=4)
    d = result.diagnostics
    assert len(d["pareto_front"]) > 1, "the case must have several front layers to be decisive"
    assert [e["layer"] for e in d["front_search"]] == d["pareto_front"]
    assert all(len(e["step_search"]) == 4 for e in d["front_search"])
    chosen = [e for e in d["front_search"] if e["chosen"]]
    assert len(chosen) == 1 and chosen[0] is best_layer(d["front_search"])
    assert chosen[0]["layer"] == d["chosen_layer"] and chosen[0]["step_search"] == d["step_search"]
    changed = [k for k, v in edited.state_dict().items() if not torch.equal(v, digits_base.model.state_dict()[k])]
    assert changed == [d["chosen_layer"]], "the searches of the other layers leave no trace"
    figure = inside.slug_front_search(d["front_search"])  # two panels, a curve and a pick per layer in each
    assert len(figure.data) == 4 * len(d["front_search"])


def test_slug_candidates_keep_normalisation_weights_unless_matrices_only():
    model = TinyBN()
    assert list(candidate_tensors(model)) == ["conv.weight", "bn.weight", "fc.weight"]
    assert list(candidate_tensors(model, "matrices")) == ["conv.weight", "fc.weight"]


# ---- SEMU -------------------------------------------------------------------------------------------------
def _bn_model_with_running_stats(x: torch.Tensor) -> TinyBN:
    torch.manual_seed(0)
    model = TinyBN()
    model.train()
    with torch.no_grad():
        model(x[:64] * 3.0 + 1.0)  # running statistics unlike any forget batch's
    return model.eval()


def _projected_spectrum(model: nn.Module, x: torch.Tensor, y: torch.Tensor, train_mode: bool) -> torch.Tensor:
    probe = copy.deepcopy(model).train(train_mode)
    (grad,) = torch.autograd.grad(F.cross_entropy(probe(x), y), [probe.fc.weight])
    return torch.linalg.svdvals(project_out_weight(grad, probe.fc.weight.detach(), 1))


def test_semu_gradient_pass_uses_batch_statistics_and_restores_the_running_ones(digits):
    splits = _splits(digits, classes=(3,))
    xf, yf = splits.forget()
    model = _bn_model_with_running_stats(splits.train()[0])
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("bn.")}
    edited, result = _run("semu", model, splits, epochs=1)
    singular = result.diagnostics["spectra"]["fc.weight"]["singular_values"][0]
    train_spectrum = _projected_spectrum(model, xf, yf, train_mode=True)
    eval_spectrum = _projected_spectrum(model, xf, yf, train_mode=False)
    assert not torch.allclose(train_spectrum, eval_spectrum, rtol=1e-2), "the check must be decisive"
    assert torch.allclose(singular, train_spectrum, rtol=1e-4, atol=1e-7)
    after = edited.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items()), "running statistics restored"
    assert result.diagnostics["bn_stats_restored"] and result.diagnostics["gradient_mode"] == "train"
    kept, kept_result = _run("semu", model, splits, epochs=1, keep_bn_updates=True)
    assert not torch.equal(kept.state_dict()["bn.running_mean"], before["bn.running_mean"])
    assert not kept_result.diagnostics["bn_stats_restored"]
    _, eval_result = _run("semu", model, splits, epochs=1, gradient_mode="eval")
    assert torch.allclose(eval_result.diagnostics["spectra"]["fc.weight"]["singular_values"][0], eval_spectrum,
                          rtol=1e-4, atol=1e-7)


def test_semu_gradient_pass_on_a_single_forget_image_uses_running_statistics(digits):
    # BatchNorm1d in train mode cannot normalise one sample; the pass takes the running statistics for it
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)).eval()
    splits = _splits(digits, indices=(5,))
    _, result = _run("semu", model, splits, epochs=1)
    xf, yf = splits.forget()
    assert len(yf) == 1
    spectrum = result.diagnostics["spectra"]["4.weight"]["singular_values"][0]
    probe = copy.deepcopy(model).eval()
    (grad,) = torch.autograd.grad(F.cross_entropy(probe(xf), yf), [probe[4].weight])
    expected = torch.linalg.svdvals(project_out_weight(grad, probe[4].weight.detach(), 1))
    assert torch.allclose(spectrum, expected, rtol=1e-4, atol=1e-7)


def test_semu_learning_rate_drops_tenfold_after_epochs_91_and_136(digits):
    splits = _splits(digits, classes=(3,))
    model = _bn_model_with_running_stats(splits.train()[0])
    _, result = _run("semu", model, splits, epochs=140, lr=1e-3)
    lr = {h["epoch"]: h["lr"] for h in result.diagnostics["history"]}
    assert lr[91] == pytest.approx(1e-3) and lr[92] == pytest.approx(1e-4)
    assert lr[136] == pytest.approx(1e-4) and lr[137] == pytest.approx(1e-5)
    monitored = [h["epoch"] for h in result.diagnostics["history"] if "retain_acc" in h]
    assert monitored == [28, 56, 84, 112, 140]


# ---- SalUn ------------------------------------------------------------------------------------------------
def test_salun_mask_comes_from_batches_of_256(digits_base, digits):
    splits = _splits(digits, classes=(3,))
    _, result = _run("salun", digits_base.model, splits, epochs=1)
    xf, yf = splits.forget()
    assert len(yf) % 64 != 0, "a short last batch is what makes the batch size matter"
    mask_256 = saliency_masks(copy.deepcopy(digits_base.model), xf, yf, 0.5, 256, CPU)
    mask_64 = saliency_masks(copy.deepcopy(digits_base.model), xf, yf, 0.5, 64, CPU)
    stored = {name: m["count"].reshape(-1).bool() for name, m in result.diagnostics["masks"].items()}
    assert all(torch.equal(stored[n], m.flatten()) for n, m in mask_256.items())
    assert any(not torch.equal(stored[n], m.flatten()) for n, m in mask_64.items())


# ---- SCRUB ------------------------------------------------------------------------------------------------
def test_scrub_schedule_decays_after_epochs_5_8_9_and_acts_on_the_optimiser(digits_base, digits):
    lrs = [scheduled_lr(e, 5e-4, (5, 8, 9), 0.1) for e in range(1, 11)]
    assert lrs == pytest.approx([5e-4] * 5 + [5e-5] * 3 + [5e-6, 5e-7])
    splits = _splits(digits, classes=(3,))
    one, _ = _run("scrub", digits_base.model, splits, epochs=1, msteps=1)
    # a rate of 0 after epoch 1: Adam takes zero steps, so two epochs end where one did
    two, result = _run("scrub", digits_base.model, splits, epochs=2, msteps=1, lr_decay_epochs="1",
                       lr_decay_rate=0.0)
    assert [h["lr"] for h in result.diagnostics["history"]] == [5e-4, 5e-4, 0.0]
    for (name, p), q in zip(one.named_parameters(), two.parameters(), strict=True):
        assert torch.equal(p, q), name
    with pytest.raises(UserInputError, match="lr_decay_epochs"):
        _run("scrub", digits_base.model, splits, epochs=1, lr_decay_epochs="5;8")
