"""Architecture registry: the built-in `mlp`, `cnn` (default) and CIFAR-stem `resnet18`, and torchvision's
image classifiers by their torchvision names (models/torchvision_archs.py).

torchvision's own ResNet-18 is `torchvision:resnet18`, since the plain name belongs to the built-in; every
torchvision architecture also answers to its `torchvision:` form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.registry import Registry

TORCHVISION_PREFIX = "torchvision:"


@dataclass(frozen=True)
class ArchInfo:
    name: str
    title: str
    description: str
    source: str = "built-in"  # "built-in" | "torchvision"
    norm: str = "none"  # the normalisation layers it has: "batch", "layer" or "none"


ModelBuilder = Callable[[tuple[int, int, int], int], nn.Module]
ARCHITECTURES: Registry[tuple[ArchInfo, ModelBuilder]] = Registry("architecture")


def register_arch(info: ArchInfo) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorator(builder: ModelBuilder) -> ModelBuilder:
        ARCHITECTURES.register(info.name)((info, builder))
        return builder

    return decorator


def resolve_arch(name: str) -> str:
    """The registered name of `name`: `torchvision:mobilenet_v3_small` is `mobilenet_v3_small`, while
    `torchvision:resnet18` stays as it is (the built-in owns `resnet18`)."""
    if name in ARCHITECTURES:
        return name
    if name.startswith(TORCHVISION_PREFIX) and name.removeprefix(TORCHVISION_PREFIX) in ARCHITECTURES:
        plain = name.removeprefix(TORCHVISION_PREFIX)
        if ARCHITECTURES.get(plain)[0].source == "torchvision":
            return plain
    ARCHITECTURES.get(name)  # raises the one-line "unknown architecture ...; choose one of" error
    return name


def arch_info(arch: str) -> ArchInfo:
    return ARCHITECTURES.get(resolve_arch(arch))[0]


def build_model(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    _, builder = ARCHITECTURES.get(resolve_arch(arch))
    return builder(tuple(input_shape), int(num_classes))


def list_architectures() -> list[str]:
    return ARCHITECTURES.names()


def input_adaptation(arch: str, input_shape: tuple[int, int, int]) -> str:
    """For the model card: what happens to an image of `input_shape` before the first layer of `arch`."""
    from unlearn_core.models.torchvision_archs import entry_for
    from unlearn_core.models.torchvision_archs import input_adaptation as torchvision_adaptation

    entry = entry_for(resolve_arch(arch))
    if entry is None:
        c, h, w = input_shape
        return (f"{c}x{h}x{w} images are used as they are (the first layer is built for {c} channel"
                f"{'s' if c > 1 else ''}).")
    return torchvision_adaptation(entry, input_shape)


def count_parameters(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Parameters of `arch` for this input and class count, built on the meta device (no memory, no init)
    where its constructor allows (RegNet's computes its widths from tensors, so it is built for real)."""
    try:
        with torch.device("meta"):
            model = build_model(arch, input_shape, num_classes)
    except NotImplementedError:
        model = build_model(arch, input_shape, num_classes)
    return sum(p.numel() for p in model.parameters())


def step_flops(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Floating-point operations of one forward+backward pass on one image (counted on the meta device with
    torch's FlopCounterMode, over a batch of two since BatchNorm needs two samples in training mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with torch.device("meta"):
            model = build_model(arch, input_shape, num_classes)
    except NotImplementedError:
        model = build_model(arch, input_shape, num_classes).to("meta")
    x = torch.zeros(2, *input_shape, device="meta")
    with counter:
        model.train()(x).sum().backward()
    return counter.get_total_flops() // 2


@register_arch(ArchInfo("mlp", "MLP", "Flatten, two hidden ReLU layers (256, 128), linear classifier."))
def _mlp(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    c, h, w = input_shape
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, 256),
        nn.ReLU(),
        nn.Linear(256, 128),
        nn.ReLU(),
        nn.Linear(128, num_classes),
    )


class SmallCNN(nn.Module):
    """conv32 -> pool -> conv64 -> pool -> 2x2 average -> fc128 -> fc(C): about 53k parameters on digits."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.squeeze = nn.AdaptiveAvgPool2d(2)
        self.f1 = nn.Linear(64 * 4, 128)
        self.f2 = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (input of the classifier layer)."""
        x = self.pool(torch.relu(self.c1(x)))
        x = self.pool(torch.relu(self.c2(x)))
        x = torch.flatten(self.squeeze(x), 1)
        return torch.relu(self.f1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f2(self.features(x))


@register_arch(ArchInfo("cnn", "Small CNN", "Two 3x3 conv layers (32, 64) with max-pooling, fc 128, fc C."))
def _cnn(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return SmallCNN(input_shape[0], num_classes)


class FlatCNN(nn.Module):
    """SmallCNN's two conv layers with the whole last feature map flattened into fc 128 (no 2x2 average).

    SmallCNN's 2x2 average suits 8x8 digits; on 28x28 images it throws away the 7x7 layout and caps the model
    near 0.87 test accuracy on Fashion-MNIST with train accuracy no higher (nothing memorised). Flattened, this
    is the classic Fashion-MNIST CNN (about 420k parameters at 28x28)."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        c, h, w = input_shape
        self.c1 = nn.Conv2d(c, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.f1 = nn.Linear(64 * (h // 4) * (w // 4), 128)
        self.f2 = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (input of the classifier layer)."""
        x = self.pool(torch.relu(self.c1(x)))
        x = self.pool(torch.relu(self.c2(x)))
        return torch.relu(self.f1(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f2(self.features(x))


@register_arch(ArchInfo("cnn_flat", "CNN, flattened head",
                        "SmallCNN's conv layers (32, 64) with the whole last map flattened into fc 128: the classic "
                        "Fashion-MNIST CNN (about 420k parameters at 28x28)."))
def _cnn_flat(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return FlatCNN(tuple(input_shape), num_classes)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool), as in SalUn/SEMU's code."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.pool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register_arch(ArchInfo(
    "resnet18", "ResNet-18 (CIFAR stem)",
    "11M parameters; the CIFAR stem of SalUn's and SEMU's code: a 3x3 stride-1 first conv and no max-pool, so a "
    "32x32 image keeps its resolution into the first block. torchvision's ResNet-18 (`torchvision:resnet18`) has "
    "the same blocks behind a 7x7 stride-2 conv and a max-pool built for 224-pixel ImageNet images (a 32x32 image "
    "is 8x8 when it reaches the first block); its state dict names the shortcut `downsample` where this one says "
    "`shortcut`, so the checkpoints of the two do not load into each other.", norm="batch"))
def _resnet18(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return ResNet18(input_shape[0], num_classes)


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Input of the last linear layer, for embeddings and representation metrics."""
    if isinstance(model, SmallCNN | ResNet18):
        return model.features(x)
    if isinstance(model, nn.Sequential):
        return model[:-1](x)
    # torchvision models: `features` there is the convolutional trunk, not the penultimate activations, so
    # the input of the classifier (the last Linear registered) is caught with a hook instead
    head = classifier_layer(model)
    if head is None:
        raise TypeError(f"cannot take penultimate features of {type(model).__name__}: it has no linear layer")
    caught: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda module, args: caught.append(args[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return caught[-1]


def classifier_layer(model: nn.Module) -> nn.Linear | None:
    """The last nn.Linear registered in the model: the classification head of every architecture here."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


# What a method may edit, by kind (MethodInfo.edits): weights of convolutions, of linear layers inside the
# network and of attention projections; biases of those; the affine parameters of normalisation layers; the
# classification head (the last linear layer, weight and bias); and everything else (class tokens, position
# embeddings, ConvNeXt's layer scale, Swin's relative position tables).
PARAM_KINDS = ("conv", "linear", "attention", "bias", "norm", "head", "other")
NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def parameter_kinds(model: nn.Module) -> dict[str, str]:
    """The kind (one of PARAM_KINDS) of every named parameter of `model`."""
    head = classifier_layer(model)
    kinds: dict[str, str] = {}
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        for name, _ in module.named_parameters(recurse=False):
            if module is head:
                kind = "head"
            elif isinstance(module, NORM_LAYERS):
                kind = "norm"
            elif name == "bias" or name.endswith("_bias"):
                kind = "bias" if isinstance(module, nn.modules.conv._ConvNd | nn.Linear | nn.MultiheadAttention) \
                    else "other"
            elif isinstance(module, nn.modules.conv._ConvNd):
                kind = "conv"
            elif isinstance(module, nn.Linear):
                kind = "linear"
            elif isinstance(module, nn.MultiheadAttention):
                kind = "attention"
            else:
                kind = "other"
            kinds[prefix + name] = kind
    return kinds


def classifier_prefix(model: nn.Module) -> str:
    """Module name of the classification head (e.g. `fc`, `classifier.3`, `heads.head`), '' if none."""
    head = classifier_layer(model)
    return next((name for name, m in model.named_modules() if m is head), "") if head is not None else ""


def last_conv_layer(model: nn.Module) -> nn.Conv2d | None:
    """The last Conv2d module (GradCAM's default target), or None for conv-free models."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


from unlearn_core.models import torchvision_archs  # noqa: E402, F401  (registration of torchvision's models)
