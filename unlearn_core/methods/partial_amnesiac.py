"""Partial amnesiac unlearning (Gogineni & Nadimi, arXiv:2403.07611, Alg. 1; our reconstruction, methods.md §5.3).

Amnesiac unlearning undoes the training steps whose batch held a sample to forget by subtracting their stored
parameter updates. The partial variant stores each step's update pruned per layer to its top-`rho` entries by
magnitude, which cuts storage, and subtracts those pruned updates with no fine-tuning afterwards.

The base model records full updates (rho 1), so any rho can be explored: pruning each stored step to its top-rho
entries here gives exactly what pruning at record time would have stored.

A forget set present in nearly every batch (a whole class under shuffled batches) would subtract almost the whole
training trajectory; the run refuses up front, stating the share of steps touched, unless `force` is set.

Diagnostics:
    "storage": {"rho", "recorded_rho", "recorded_mb", "stored_mb", "full_mb", "steps_touched", "steps_total",
                "curve": [{"rho", "stored_mb"}] for rho in 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}
        stored_mb is the whole log at this rho (fp32 values + int32 positions), full_mb the dense log (rho 1),
        recorded_mb what the base model's log takes on disk (at recorded_rho, sample ids included)
    "masks": {param_name: {"updated_fraction": share of entries changed,
                           "count": 2-D tensor, per entry the number of subtracted steps that touched it}}
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods._panels import MASKS_PANEL, STORAGE_PANEL
from unlearn_core.methods._partial import (
    count_masks,
    share_text,
    storage_diagnostics,
    subtract_recorded_updates,
    touched_steps,
)
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    MethodNotApplicable,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    param,
    register_method,
)


@register_method("partial_amnesiac")
class PartialAmnesiac(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="eval",  # on any architecture (MethodInfo.edits)
        title="Partial amnesiac unlearning",
        summary="Subtract the layer-wise pruned training updates of batches that held forget samples; no fine-tune.",
        paper="Gogineni & Nadimi, JMLR 2025, arXiv:2403.07611 (Alg. 1)",
        family="seed",
        needs_retain=False,
        needs_forget_data=False,
        needs_artifacts=("update_log",),
        one_shot=True,
        inferred=(
            "The paper's method section was not available: per-layer top-rho magnitude pruning of each step's update, "
            "the default rho 0.03, and the refusal above max_touched_share are our reconstruction."
        ),
    )
    panels = (STORAGE_PANEL, MASKS_PANEL)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        rho: float = param(0.03, min=0.001, max=1.0, log=True,
                           help="per-layer share of each stored update kept (largest magnitudes)",
                           paper="not available (no official code)",
                           why="calibrated on shapes: 20 of 20,000 images, test acc -0.014, 16.6x less storage; "
                               "0.1 costs 0.10")
        max_touched_share: float = param(
            0.5, min=0.0, max=1.0,
            help="refuse when the forget set touched more than this share of training steps",
            paper="none (our guard)",
        )
        force: bool = param(False, help="subtract even when the touched share is above max_touched_share",
                      paper="none (our guard)")

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: Config,
                ctx: UnlearnContext) -> UnlearnResult:
        log = artifacts.updates
        if cfg.rho > log.rho:
            raise MethodNotApplicable(
                f"the base model stored updates pruned to rho={log.rho:g}; choose rho <= {log.rho:g}"
            )
        steps = touched_steps(log, splits.forget_idx)
        share = len(steps) / log.num_steps
        share_line = f"the forget set appears in {share_text(len(steps), log.num_steps)}"
        if share > cfg.max_touched_share and not cfg.force:
            raise MethodNotApplicable(
                f"{share_line}, above max_touched_share={cfg.max_touched_share:g}: subtracting them would undo most "
                "of training and wreck the model. Amnesiac unlearning suits a few images, not a class that sits in "
                "nearly every batch; set force=true to see it anyway"
            )
        notes = [share_line + "; their pruned updates are subtracted"]
        if share > cfg.max_touched_share:
            notes.append(f"forced past max_touched_share={cfg.max_touched_share:g}: expect the model to collapse")
        ctx.report(0.1, f"subtracting {len(steps)} stored updates at rho={cfg.rho:g}")
        counts = subtract_recorded_updates(model, log, steps, cfg.rho)
        storage = storage_diagnostics(log, cfg.rho, len(steps))
        # say what is on disk: the base model records at its own rho (1 by default, so any rho can be explored)
        notes.append(f"this base model's update log takes {storage['recorded_mb']:.1f} MB in its model file "
                     f"(recorded at rho={log.rho:g}); recorded at rho={cfg.rho:g} it would take "
                     f"{storage['stored_mb']:.1f} MB, against {storage['full_mb']:.1f} MB for full amnesiac storage "
                     f"({storage['full_mb'] / storage['stored_mb']:.1f}x smaller)")
        ctx.report(1.0, "done")
        return UnlearnResult(model, {"storage": storage, "masks": count_masks(counts)}, notes)
