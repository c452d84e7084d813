"""torchvision's image classifiers, by their torchvision names, adapted to the lab's small inputs.

Each model is exactly what `torchvision.models.get_model(name, weights=None, num_classes=C)` builds, so a state
dict saved by torchvision code loads unchanged (same keys, same shapes). The input is adapted outside the
weights, by a forward pre-hook:
- grey images are repeated to the three channels every torchvision classifier expects;
- images smaller than the network's total downsampling (32 pixels for the CNNs) are resized up to it,
  bilinearly, so the last feature map keeps at least one pixel; a ViT's side is resized to its image size
  (a multiple of its patch size).
No pretrained weights are fetched (this machine has no network): every model trains from scratch here, or
comes from a checkpoint the user imports.

Only architectures that fit small classification data are listed (a linear classification head, no auxiliary
logits, a fixed-size input only where it can be set to the data's size); the contract and architecture tests
build and train each of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from unlearn_core.models.architectures import ARCHITECTURES, TORCHVISION_PREFIX, ArchInfo, register_arch


@dataclass(frozen=True)
class TorchvisionArch:
    name: str  # torchvision's registry name
    title: str
    family: str  # one line on what it is
    norm: str  # "batch" | "layer"
    min_side: int = 32  # smallest input side its downsampling handles
    patch: int = 0  # ViT patch size: the input side is resized to a multiple of it (its `image_size`)


CATALOGUE = (
    TorchvisionArch("resnet18", "ResNet-18 (torchvision)", "ImageNet stem (7x7 stride-2 conv, max-pool), basic "
                    "blocks [2, 2, 2, 2]", "batch"),
    TorchvisionArch("resnet34", "ResNet-34", "ImageNet stem, basic blocks [3, 4, 6, 3]", "batch"),
    TorchvisionArch("resnet50", "ResNet-50", "ImageNet stem, bottleneck blocks [3, 4, 6, 3]", "batch"),
    TorchvisionArch("resnext50_32x4d", "ResNeXt-50 32x4d", "ResNet-50 with grouped 3x3 convolutions", "batch"),
    TorchvisionArch("mobilenet_v2", "MobileNetV2", "inverted residuals with linear bottlenecks", "batch"),
    TorchvisionArch("mobilenet_v3_small", "MobileNetV3-Small", "inverted residuals, squeeze-excitation, "
                    "hard-swish; a dropout before its last layer", "batch"),
    TorchvisionArch("mobilenet_v3_large", "MobileNetV3-Large", "the large MobileNetV3", "batch"),
    TorchvisionArch("efficientnet_b0", "EfficientNet-B0", "MBConv blocks with squeeze-excitation, stochastic "
                    "depth and dropout", "batch"),
    TorchvisionArch("regnet_y_400mf", "RegNetY-400MF", "RegNet design space, squeeze-excitation", "batch"),
    TorchvisionArch("shufflenet_v2_x1_0", "ShuffleNetV2 1.0x", "channel split and shuffle", "batch"),
    TorchvisionArch("mnasnet1_0", "MNASNet 1.0", "architecture-searched mobile network", "batch"),
    TorchvisionArch("densenet121", "DenseNet-121", "densely connected blocks", "batch"),
    TorchvisionArch("convnext_tiny", "ConvNeXt-Tiny", "7x7 depthwise convolutions, LayerNorm, inverted "
                    "bottleneck MLPs as Linear layers, layer scale", "layer"),
    TorchvisionArch("swin_t", "Swin-T", "shifted-window attention, LayerNorm, patch 4 (windows are padded on "
                    "small inputs)", "layer"),
    TorchvisionArch("vit_b_16", "ViT-B/16", "ViT-Base, patch 16, 12 layers of width 768 (86M parameters; its "
                    "`image_size` is set to the input side)", "layer", min_side=32, patch=16),
)

# A small ViT: torchvision registers only ViT-B and larger, so ViT-Tiny is built from torchvision's own
# VisionTransformer class with DeiT-Tiny's widths (Touvron et al., 2021) and a 4-pixel patch for small images.
VIT_TINY = {"patch_size": 4, "num_layers": 12, "num_heads": 3, "hidden_dim": 192, "mlp_dim": 768}
VIT_TINY_ENTRY = TorchvisionArch("vit_tiny", "ViT-Tiny/4", "torchvision's VisionTransformer with DeiT-Tiny widths "
                                 "(12 layers of width 192, 3 heads) and a 4-pixel patch", "layer", min_side=16,
                                 patch=4)


@dataclass
class InputAdapter:
    """Forward pre-hook: grey -> three channels, then a bilinear resize to the size the network needs."""

    channels: int
    size: tuple[int, int] | None  # None: keep the input's size

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return (x, *args[1:])


def adapted_size(entry: TorchvisionArch, input_shape: tuple[int, int, int]) -> tuple[int, int] | None:
    """The spatial size the network sees, or None when the input is used as it is."""
    _, h, w = input_shape
    if entry.patch:
        side = max(entry.min_side, math.ceil(max(h, w) / entry.patch) * entry.patch)
        return None if (h, w) == (side, side) else (side, side)
    if h >= entry.min_side and w >= entry.min_side:
        return None
    return max(h, entry.min_side), max(w, entry.min_side)


def input_adaptation(entry: TorchvisionArch, input_shape: tuple[int, int, int]) -> str:
    """One sentence for the model card: what happens to an image before the first layer."""
    c, h, w = input_shape
    steps = []
    if c == 1:
        steps.append("grey images are repeated to 3 channels")
    size = adapted_size(entry, input_shape)
    if size is not None:
        why = (f"a multiple of its {entry.patch}-pixel patch" if entry.patch
               else f"its stem and stages downsample {entry.min_side}x")
        steps.append(f"{h}x{w} images are resized bilinearly to {size[0]}x{size[1]} ({why})")
    return ("; ".join(steps) or f"{c}x{h}x{w} images are used as they are") + "."


def _adapt(model: nn.Module, entry: TorchvisionArch, input_shape: tuple[int, int, int]) -> nn.Module:
    model.register_forward_pre_hook(InputAdapter(3, adapted_size(entry, input_shape)))
    return model


def _builder(entry: TorchvisionArch):
    def build(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
        from torchvision.models import get_model

        extra = {}
        if entry.patch:
            size = adapted_size(entry, input_shape) or input_shape[1:]
            extra["image_size"] = size[0]
        return _adapt(get_model(entry.name, weights=None, num_classes=num_classes, **extra), entry, input_shape)

    return build


def build_vit_tiny(input_shape: tuple[int, int, int], num_classes: int, **overrides: int) -> nn.Module:
    """ViT-Tiny/4 from torchvision's VisionTransformer; `overrides` shrink it further for tests."""
    from torchvision.models import VisionTransformer

    config = {**VIT_TINY, **overrides}
    entry = VIT_TINY_ENTRY if not overrides else TorchvisionArch("vit_tiny", "", "", "layer", 8,
                                                                  config["patch_size"])
    size = adapted_size(entry, input_shape) or input_shape[1:]
    return _adapt(VisionTransformer(image_size=size[0], num_classes=num_classes, **config), entry, input_shape)


def registered_name(entry: TorchvisionArch) -> str:
    """Torchvision's name, or `torchvision:<name>` where a built-in architecture already has the plain name."""
    taken = entry.name in ARCHITECTURES and ARCHITECTURES.get(entry.name)[0].source == "built-in"
    return TORCHVISION_PREFIX + entry.name if taken else entry.name


def entry_for(arch: str) -> TorchvisionArch | None:
    """The catalogue entry of a registered torchvision architecture, None for the built-ins."""
    plain = arch.removeprefix(TORCHVISION_PREFIX)
    if plain == VIT_TINY_ENTRY.name:
        return VIT_TINY_ENTRY
    return next((e for e in CATALOGUE if e.name == plain and registered_name(e) == arch), None)


def _description(entry: TorchvisionArch, how: str) -> str:
    return (f"{entry.family}. {how}; trained from scratch here (no network for torchvision's pretrained "
            "weights) or imported. Input: grey repeated to 3 channels; images smaller than "
            f"{entry.min_side} pixels resized up" + (f" to a multiple of {entry.patch}" if entry.patch else "")
            + ".")


for _entry in CATALOGUE:
    register_arch(ArchInfo(registered_name(_entry), _entry.title,
                           _description(_entry, f"torchvision.models.get_model({_entry.name!r}, weights=None)"),
                           source="torchvision", norm=_entry.norm))(_builder(_entry))

register_arch(ArchInfo(VIT_TINY_ENTRY.name, VIT_TINY_ENTRY.title,
                       _description(VIT_TINY_ENTRY, "torchvision.models.VisionTransformer(patch_size=4, "
                                    "num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768)"),
                       source="torchvision class", norm="layer"))(build_vit_tiny)
