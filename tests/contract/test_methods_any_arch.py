"""Every registered architecture runs every applicable method on a tiny input (CPU, no pretrained weights).

Parametrized over the architecture registry and the method registry, so a new architecture or method is under
contract without editing this file. Per (architecture, method): the method runs through `execute_method` (the one
way every caller runs it), its weights stay finite, it changes only the parameter kinds its MethodInfo declares, a
method that declares eval mode leaves BatchNorm's running statistics as they were, and a method that does not
apply says why (its capability flags, `check_inputs` or a run-time MethodNotApplicable; the skip shows the reason).

The input is digits-shaped (1x8x8 grey), which each architecture meets through its registered input adaptation
(torchvision's CNNs see 3x32x32, the smallest side their 32x downsampling keeps; ViTs a multiple of their patch),
with two training images per class and the smallest work settings each method accepts. The base model trains two
steps with mnemonic codes and recorded updates, so the methods that need those artifacts apply too.

Cost: the methods' work grows with the parameter count, and the six architectures of more than 20M parameters cost
most of it (ViT-B/16's 86M alone about a minute of CPU). In this run they are narrow twins (NARROW): torchvision's
own class with the same kinds of blocks in fewer, narrower stages, behind the same input adaptation. At full size
they run when UNLEARN_FULL_SIZE_ARCHS=1 is set (the `-full` cases, skipped otherwise with that reason). An
architecture without a twin always runs at full size, so a newly registered one is covered as it is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn
from torchvision.models import SwinTransformer, VisionTransformer
from torchvision.models.convnext import CNBlockConfig, ConvNeXt
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.methods import (
    METHODS,
    MethodNotApplicable,
    TrainingArtifacts,
    UnlearnContext,
    execute_method,
    list_methods,
)
from unlearn_core.methods.base import NORM_MODES
from unlearn_core.models.architectures import (
    ARCHITECTURES,
    PARAM_KINDS,
    ArchInfo,
    arch_info,
    build_model,
    count_parameters,
    list_architectures,
    parameter_kinds,
    register_arch,
)
from unlearn_core.models.torchvision_archs import InputAdapter, adapted_size, entry_for
from unlearn_core.models.training import TrainRecipe, make_codes, train_model

SHAPE, CLASSES, PER_CLASS = (1, 8, 8), 4, 2
# the least work each method's config accepts where its parameter counts work (epochs, steps, samples); a
# finetune of amnesiac's and a patience of SEMU's of one step still run their code paths
LEAST_WORK = {"epochs": 1, "finetune_steps": 1, "search_steps": 1, "retain_samples": 4, "eval_samples": 4,
              "max_retain_samples": 2, "msteps": 1, "patience": 1}
# tried in order until the method accepts one: two whole classes (every method supports class forgetting), then a
# single image (amnesiac subtraction refuses a forget set that touched more than half of the training steps). Two
# classes, so that a method training on forget batches in train mode gets four images: on a single class's two,
# BatchNorm's batch statistics are degenerate, and random-label training on MobileNetV2 turns its weights to NaN
# (in BatchNorm's backward pass; Lab.run reports such a run as diverged)
SCENARIOS = (ForgetSpec(classes=(1, 2)), ForgetSpec(indices=(0,)))
RECIPE = TrainRecipe(epochs=1, batch_size=4, mnemonic_t_mix=0.1, record_updates=True)  # two steps

# The architectures of more than 20M parameters, each as torchvision's class with the same blocks, fewer and
# narrower: ResNet's widths are fixed by its class, so its twins keep them with one block per stage (ResNeXt keeps
# its 32 groups of width 4); ConvNeXt keeps its layer scale and stochastic depth, Swin its 7x7 windows (padded on the
# small token grid) and relative position tables, ViT-B/16 its 16-pixel patch and class token.
NARROW: dict[str, Callable[[int], nn.Module]] = {
    "resnet34": lambda classes: ResNet(BasicBlock, [1, 1, 1, 1], num_classes=classes),  # 4.9M (full 21.3M)
    "resnet50": lambda classes: ResNet(Bottleneck, [1, 1, 1, 1], num_classes=classes),  # 8.0M (full 23.5M)
    "resnext50_32x4d": lambda classes: ResNet(Bottleneck, [1, 1, 1, 1], groups=32, width_per_group=4,
                                              num_classes=classes),  # 7.4M (full 23.0M)
    "convnext_tiny": lambda classes: ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)],
                                              stochastic_depth_prob=0.1, num_classes=classes),  # 16k (full 27.8M)
    "swin_t": lambda classes: SwinTransformer([4, 4], 16, [2, 2], [1, 2], [7, 7], stochastic_depth_prob=0.2,
                                              num_classes=classes),  # 36k (full 27.5M)
    "vit_b_16": lambda classes: VisionTransformer(32, 16, 2, 2, 16, 32, num_classes=classes),  # 17k (full 85.8M)
}
FULL_SIZE = os.environ.get("UNLEARN_FULL_SIZE_ARCHS") == "1"
OPT_IN = pytest.mark.skipif(not FULL_SIZE, reason="full-size run of an architecture of more than 20M parameters is "
                                                  "opt-in: UNLEARN_FULL_SIZE_ARCHS=1")


def _cases() -> Iterator:
    for arch in list_architectures():
        if arch in NARROW:
            yield pytest.param((arch, True), id=f"{arch}-narrow")
            yield pytest.param((arch, False), id=f"{arch}-full", marks=OPT_IN)
        else:
            yield pytest.param((arch, False), id=arch)


def test_every_twin_is_the_class_of_a_registered_architecture_and_much_smaller():
    for arch, twin in NARROW.items():
        assert entry_for(arch) is not None, f"{arch} is not a registered torchvision architecture"
        with torch.device("meta"):  # no memory, no initialisation
            full, narrow = build_model(arch, SHAPE, CLASSES), twin(CLASSES)
        assert type(narrow) is type(full), arch
        assert count_parameters(arch, SHAPE, CLASSES) > 20_000_000 > 2 * sum(p.numel() for p in narrow.parameters())


def test_every_method_declares_what_it_edits_and_its_norm_mode():
    for name in list_methods():
        info = METHODS.get(name).info
        assert info.edits and set(info.edits) <= set(PARAM_KINDS) | {"all"}, name
        assert info.norm_mode in NORM_MODES, name


def _dataset() -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(CLASSES, *SHAPE, generator=gen)

    def draw(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(CLASSES).repeat_interleave(per_class)
        return means[y] + 0.5 * torch.randn(len(y), *SHAPE, generator=gen), y

    (x_train, y_train), (x_test, y_test) = draw(PER_CLASS), draw(1)
    return ImageDataset("tiny", x_train, y_train, x_test, y_test, [str(c) for c in range(CLASSES)], (0.0,), (1.0,))


@pytest.fixture(scope="module", params=_cases())
def trained(request) -> Iterator[tuple[str, nn.Module, TrainingArtifacts, ImageDataset]]:
    """The architecture trained two steps with mnemonic codes and recorded updates, so every method applies.

    A twin is registered for the module's run under `narrow:<arch>` (the retrain method builds its fresh model by
    name), behind the input adaptation of the architecture it stands for."""
    arch, narrow = request.param
    name = arch
    if narrow:
        name = f"narrow:{arch}"
        adapter = InputAdapter(3, adapted_size(entry_for(arch), SHAPE))

        def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
            model = NARROW[arch](num_classes)
            model.register_forward_pre_hook(adapter)
            return model

        info = arch_info(arch)
        register_arch(ArchInfo(name, f"{info.title}, narrow", "test-only twin", info.source, info.norm))(build)
    dataset = _dataset()
    codes = make_codes(CLASSES, SHAPE, 0)
    torch.manual_seed(0)
    model = build_model(name, SHAPE, CLASSES)
    outcome = train_model(model, dataset.x_train, dataset.y_train, RECIPE, seed=0, device=torch.device("cpu"),
                          codes=codes)
    artifacts = TrainingArtifacts(name, SHAPE, CLASSES, RECIPE, 0, codes=codes, updates=outcome.updates,
                                  original_train_acc=None)
    yield name, outcome.model.eval(), artifacts, dataset
    if narrow:
        ARCHITECTURES._items.pop(name)


def _least_work_config(cls):
    names = {p.name for p in cls.Config.params()}
    return cls.Config.from_values({k: v for k, v in LEAST_WORK.items() if k in names})


@pytest.mark.parametrize("name", list_methods())
def test_every_method_on_every_architecture_keeps_its_declaration(name, trained):
    arch, original, artifacts, dataset = trained
    impl = METHODS.get(name)()
    info, cfg = impl.info, _least_work_config(type(impl))
    before = {k: v.clone() for k, v in original.state_dict().items()}
    result, reasons = None, []
    for spec in SCENARIOS:
        splits = Splits.build(dataset, spec)
        reason = impl.applicability(splits, artifacts)
        if reason is None:
            try:
                impl.check_inputs(original, splits, artifacts, cfg)
                ctx = UnlearnContext(torch.device("cpu"), 0, lambda f, m: None, threading.Event())
                result = execute_method(impl, original, splits, artifacts, cfg, ctx).result
                break
            except (MethodNotApplicable, UserInputError) as exc:  # a refusal for this model or data says why
                reason = str(exc)
        reasons.append(reason)
    if result is None:
        assert all(reasons), f"{name} refused {arch} without a reason"
        pytest.skip(f"{name} does not apply to {arch}: {' / '.join(reasons)}")
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items()), "the base model was edited"
    after = result.model.state_dict()
    assert set(before) == set(after), f"{name} changed the architecture of {arch}"
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point()), name
    if info.norm_mode == "fresh":
        return  # a new model: every parameter is new by design
    kinds = parameter_kinds(original)
    changed = {kinds[k] for k in kinds if not torch.equal(before[k], after[k])}
    assert changed, f"{name} changed nothing on {arch}"
    assert changed <= set(info.edited_kinds()), f"{name} declares {info.edits} but changed {changed} on {arch}"
    if info.norm_mode in ("eval", "gradient_train"):
        stats = [k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
        moved = [k for k in stats if not torch.equal(before[k], after[k])]
        assert not moved, f"{name} declares eval mode but moved BatchNorm statistics {moved[:3]} on {arch}"
