"""Every method on a BatchNorm model and a LayerNorm model (tiny torchvision configurations, CPU): it runs, its
weights stay finite, it changes only the parameter kinds its MethodInfo declares, and a method that declares
eval mode leaves BatchNorm's running statistics as they were."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torchvision.models import VisionTransformer, mobilenet_v3_small

from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.methods import METHODS, MethodNotApplicable, TrainingArtifacts, UnlearnContext, list_methods
from unlearn_core.methods.base import NORM_MODES
from unlearn_core.models.architectures import (
    ARCHITECTURES,
    PARAM_KINDS,
    ArchInfo,
    parameter_kinds,
    register_arch,
)
from unlearn_core.models.torchvision_archs import InputAdapter
from unlearn_core.models.training import TrainRecipe, make_codes, train_model

SHAPE, CLASSES = (3, 16, 16), 4


def _tiny_mobilenet(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Torchvision's MobileNetV3-Small at a quarter width (BatchNorm, dropout, squeeze-excitation), 118k weights."""
    model = mobilenet_v3_small(width_mult=0.25, num_classes=num_classes)
    model.register_forward_pre_hook(InputAdapter(3, (32, 32)))
    return model


def _tiny_vit(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Torchvision's VisionTransformer with one layer of width 16 (LayerNorm, attention, class token)."""
    return VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32,
                             num_classes=num_classes)


TINY = {"tiny_mobilenet_v3_small": (_tiny_mobilenet, "batch"), "tiny_vit": (_tiny_vit, "layer")}
# the shortest run each method's config allows: one epoch, a couple of steps, small samples
FAST = {"epochs": 1, "finetune_steps": 2, "search_steps": 2, "retain_samples": 16, "eval_samples": 16,
        "max_retain_samples": 8, "msteps": 1, "patience": 1}


@pytest.fixture(scope="module")
def tiny_archs() -> Iterator[None]:
    """Registers the tiny models for the module (the retrain method builds its fresh model by name)."""
    for name, (builder, norm) in TINY.items():
        register_arch(ArchInfo(name, name, "test-only tiny configuration", "torchvision", norm))(builder)
    yield
    for name in TINY:
        ARCHITECTURES._items.pop(name)


def _dataset() -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(CLASSES, *SHAPE, generator=gen)

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(CLASSES).repeat_interleave(per_class)
        return means[y] + 0.5 * torch.randn(len(y), *SHAPE, generator=gen), y

    (x_train, y_train), (x_test, y_test) = draw(12), draw(4)
    return ImageDataset("tiny", x_train, y_train, x_test, y_test, [str(c) for c in range(CLASSES)],
                        (0.0,) * 3, (1.0,) * 3)


@pytest.fixture(scope="module", params=list(TINY))
def trained(request, tiny_archs) -> tuple[str, nn.Module, TrainingArtifacts, ImageDataset]:
    """A tiny model trained one epoch with mnemonic codes and recorded updates, so every method applies."""
    arch = request.param
    dataset = _dataset()
    recipe = TrainRecipe(epochs=2, batch_size=16, mnemonic_t_mix=0.1, record_updates=True)
    codes = make_codes(CLASSES, SHAPE, 0)
    torch.manual_seed(0)
    model = TINY[arch][0](SHAPE, CLASSES)
    outcome = train_model(model, dataset.x_train, dataset.y_train, recipe, seed=0, device=torch.device("cpu"),
                          codes=codes)
    artifacts = TrainingArtifacts(arch, SHAPE, CLASSES, recipe, 0, codes=codes, updates=outcome.updates,
                                  original_train_acc=None)
    return arch, outcome.model.eval(), artifacts, dataset


def _fast_config(cls):
    names = {p.name for p in cls.Config.params()}
    return cls.Config.from_values({k: v for k, v in FAST.items() if k in names})


def test_every_method_declares_what_it_edits_and_its_norm_mode():
    for name in list_methods():
        info = METHODS.get(name).info
        assert info.edits and set(info.edits) <= set(PARAM_KINDS) | {"all"}, name
        assert info.norm_mode in NORM_MODES, name


@pytest.mark.parametrize("name", list_methods())
def test_method_on_batchnorm_and_layernorm_models_keeps_its_declaration(name, trained):
    arch, original, artifacts, dataset = trained
    impl = METHODS.get(name)()
    info = impl.info
    result, reasons = None, []
    for spec in (ForgetSpec(classes=(1,)), ForgetSpec(indices=(0, 13)), ForgetSpec(indices=(0,))):
        splits = Splits.build(dataset, spec)
        reason = impl.applicability(splits, artifacts)
        if reason:
            reasons.append(reason)
            continue
        ctx = UnlearnContext(torch.device("cpu"), 0, lambda f, m: None, threading.Event())
        torch.manual_seed(0)
        try:
            result = impl.unlearn(copy.deepcopy(original), splits, artifacts, _fast_config(type(impl)), ctx)
            break
        except MethodNotApplicable as exc:  # a refusal at run time must say why
            reasons.append(str(exc))
    if result is None:
        assert all(reasons), f"{name} refused {arch} without a reason"
        pytest.skip(f"{name} refuses both scenarios on {arch}: {reasons}")
    before, after = original.state_dict(), result.model.state_dict()
    assert set(before) == set(after), f"{name} changed the architecture of {arch}"
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point()), name
    if info.norm_mode == "fresh":
        return  # a new model: every parameter is new by design
    kinds = parameter_kinds(original)
    changed = {kinds[k] for k in kinds if not torch.equal(before[k], after[k])}
    assert changed, f"{name} changed nothing on {arch}"
    assert changed <= set(info.edited_kinds()), f"{name} declares {info.edits} but changed {changed} on {arch}"
    stats = [k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    if info.norm_mode in ("eval", "gradient_train"):
        moved = [k for k in stats if not torch.equal(before[k], after[k])]
        assert not moved, f"{name} declares eval mode but moved BatchNorm statistics {moved[:3]} on {arch}"
