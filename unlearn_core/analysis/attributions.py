"""Input attributions with Captum: which pixels drive the prediction, before and after unlearning."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from unlearn_core.models.architectures import last_conv_layer

ATTRIBUTION_METHODS = ("integrated_gradients", "saliency", "gradcam")
TITLES = {"integrated_gradients": "Integrated Gradients", "saliency": "Saliency", "gradcam": "Grad-CAM (last conv)"}


def attribute(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int, method: str = "integrated_gradients",
              steps: int = 32) -> np.ndarray:
    """Attribution maps (N, H, W) for class `target`, summed over channels and scaled to [-1, 1] per image.

    Integrated Gradients uses an all-zero baseline (the dataset mean after normalisation); Grad-CAM is taken
    at the last convolution and upsampled to the input size. Models without a convolution cannot give Grad-CAM.
    Captum hooks a private copy: the models shown are shared with runs in other sessions.
    """
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"attribution must be one of {ATTRIBUTION_METHODS}, got {method!r}")
    model = copy.deepcopy(model).eval()
    x = x.detach().clone().requires_grad_(True)
    target = torch.as_tensor(target, device=x.device).expand(len(x)) if not isinstance(target, torch.Tensor) \
        else target.to(x.device)
    if method == "integrated_gradients":
        maps = IntegratedGradients(model).attribute(x, target=target, n_steps=steps).sum(1)
    elif method == "saliency":
        maps = Saliency(model).attribute(x, target=target, abs=True).sum(1)
    else:
        layer = last_conv_layer(model)
        if layer is None:
            raise ValueError("Grad-CAM needs a convolutional layer; this model has none")
        cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        maps = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear").sum(1)
    maps = maps.detach().float().cpu()
    scale = maps.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return (maps / scale).numpy()
