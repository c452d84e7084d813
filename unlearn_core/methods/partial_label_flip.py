"""Label flipping with layer-wise partial updates (Gogineni & Nadimi, arXiv:2403.07611, Alg. 2; our reconstruction).

The forget set is trained towards random wrong labels (redrawn every epoch), optionally together with a
cross-entropy term on retain batches. Every optimiser step changes, per parameter tensor, only the top-`rho_u`
share of entries by |gradient|; all other entries keep their values (the update itself is masked, so momentum
or Adam state cannot move them). `rho_u` = 1 gives the naive full-update label flipping for comparison.

Default: the retain term is on, because label flipping alone destroys the kept classes even with partial
updates (methods.md §10: 51 points lost at rho_u 0.01 without retain data, 1 to 3 with it).

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


@register_method("partial_label_flip")
class PartialLabelFlip(PartialUpdateMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="train",  # on any architecture (MethodInfo.edits)
        title="Label flipping with layer-wise partial updates",
        summary="Train the forget set towards wrong labels, updating only the top-rho_u of each layer per step.",
        paper="Gogineni & Nadimi, JMLR 2025, arXiv:2403.07611 (Alg. 2)",
        family="seed",
        needs_retain=True,
        inferred=(
            "The paper's method section was not available: top-rho_u by |gradient| per parameter tensor at every step, "
            "masking of the whole update, the optional retain term and its default, the optimiser, and the stop "
            "rule (class: forget accuracy target; images: the model's test accuracy) are our reconstruction."
        ),
    )

    @dataclass(frozen=True)
    class Config(PartialUpdateConfig):
        # calibrated on digits class 3 (see the benchmark): at lr 1e-3 the top-1% steps are too small to flip labels
        lr: float = param(1e-2, min=1e-6, max=1.0, log=True, help="learning rate",
                          paper="not available (no official code)", why="calibrated on digits class 3")
        retain_weight: float = param(3.0, min=0.0, max=100.0, help="weight of the retain term",
                                      paper="not available (no official code)", why="calibrated on digits class 3")

    def forget_loss(self, logits: torch.Tensor, y: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, wrong)
