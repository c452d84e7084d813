"""Gradient ascent with layer-wise partial updates (Gogineni & Nadimi, arXiv:2403.07611, Alg. 3; our reconstruction).

The optimisation-based variant: the cross-entropy of the forget set is maximised, optionally together with a
cross-entropy term on retain batches that is minimised. Every optimiser step changes, per parameter tensor, only
the top-`rho_u` share of entries by |gradient|; the other entries keep their values (the update is masked, not
only the gradient). `rho_u` = 1 gives the naive full-update gradient ascent for comparison.

Default: the retain term is on, as for partial label flipping, so both partial methods run on the same data and
compare fairly; without it, gradient ascent is the paper's pure claim (methods.md §10: 2 points lost at rho_u 0.01
on class 3, 22 at rho_u 1), available with use_retain=false.

Diagnostics:
    "masks": {param_name: {"updated_fraction": share of entries changed at least once,
                           "count": 2-D tensor, per entry the number of steps that changed it}}
    "history": [{"epoch", "forget_acc", "retain_acc"}], forget_acc on the whole forget set after each epoch (the
        stop rule reads it); retain_acc (monitoring only) read from the retain term's logits during the epoch's steps
        (train mode, before each update), or on a fixed sample of 128 retain images when no retain term is trained
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unlearn_core.methods._partial import PartialUpdateConfig, PartialUpdateMethod
from unlearn_core.methods.base import MethodInfo, param, register_method


@register_method("partial_gradient_ascent")
class PartialGradientAscent(PartialUpdateMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="Gradient ascent with layer-wise partial updates",
        summary="Raise the forget-set loss, updating only the top-rho_u of each layer per step.",
        paper="Gogineni & Nadimi, JMLR 2025, arXiv:2403.07611 (Alg. 3)",
        family="seed",
        needs_retain=True,
        inferred=(
            "The paper's method section was not available: the objective (ascent on forget cross-entropy, optional "
            "retain term), top-rho_u by |gradient| per parameter tensor at every step, masking of the whole update, "
            "the optimiser and the stop rule are our reconstruction."
        ),
    )

    @dataclass(frozen=True)
    class Config(PartialUpdateConfig):
        # calibrated on digits class 3 (see the benchmark): ascent is unbounded, so the retain term weighs more
        retain_weight: float = param(3.0, min=0.0, max=100.0, help="weight of the retain term",
                                      paper="not available (no official code)", why="calibrated on digits class 3")

    def forget_loss(self, logits: torch.Tensor, y: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
        return -F.cross_entropy(logits, y)
