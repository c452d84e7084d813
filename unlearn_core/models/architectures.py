"""Architecture registry: `mlp`, `cnn` (default) and a CIFAR-stem `resnet18`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from unlearn_core.registry import Registry


@dataclass(frozen=True)
class ArchInfo:
    name: str
    title: str
    description: str


ModelBuilder = Callable[[tuple[int, int, int], int], nn.Module]
ARCHITECTURES: Registry[tuple[ArchInfo, ModelBuilder]] = Registry("architecture")


def register_arch(info: ArchInfo) -> Callable[[ModelBuilder], ModelBuilder]:
    def decorator(builder: ModelBuilder) -> ModelBuilder:
        ARCHITECTURES.register(info.name)((info, builder))
        return builder

    return decorator


def build_model(arch: str, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    _, builder = ARCHITECTURES.get(arch)
    return builder(tuple(input_shape), int(num_classes))


def list_architectures() -> list[str]:
    return ARCHITECTURES.names()


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


@register_arch(ArchInfo("resnet18", "ResNet-18 (CIFAR stem)", "11M parameters; 3x3 stem, no max-pool."))
def _resnet18(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return ResNet18(input_shape[0], num_classes)


def penultimate_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Input of the last linear layer, for embeddings and representation metrics."""
    if hasattr(model, "features"):
        return model.features(x)
    if isinstance(model, nn.Sequential):
        return model[:-1](x)
    raise TypeError(f"cannot take penultimate features of {type(model).__name__}")


def last_conv_layer(model: nn.Module) -> nn.Conv2d | None:
    """The last Conv2d module (GradCAM's default target), or None for conv-free models."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None
