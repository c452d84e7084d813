"""Panels shared by several methods: update masks and the recorded-update storage (see base.Panel)."""

from __future__ import annotations

from typing import Any

from unlearn_core.methods.base import HISTORY_PANEL, Panel, PanelContext, PanelFigure

__all__ = ["HISTORY_PANEL", "MASKS_PANEL", "STORAGE_PANEL"]


def _mask_figures(diag: dict[str, Any], ctx: PanelContext) -> list[PanelFigure]:
    from unlearn_core.viz import inside

    return [PanelFigure(inside.mask_heatmaps(diag["masks"]),
                        "How often each parameter was updated; partial methods touch only a share per step.")]


def _storage_figures(diag: dict[str, Any], ctx: PanelContext) -> list[PanelFigure]:
    from unlearn_core.viz import inside

    storage = diag["storage"]
    out = [PanelFigure(inside.storage_curve(storage))]
    if storage.get("steps_total"):
        out.append(PanelFigure(None, f"{storage.get('steps_touched')} of {storage['steps_total']} recorded training "
                                     "steps contained a forget image and were undone."))
    return out


MASKS_PANEL = Panel(
    title="update masks",
    caption="Which parameters the method changed: layer-wise partial updates change only the top share ρ of each "
            "layer's parameters per step, saliency and dampening methods a chosen subset; the maps count how often "
            "each parameter was updated.",
    key="masks", figures=_mask_figures)

STORAGE_PANEL = Panel(
    title="recorded updates",
    caption="The training updates recorded for the base model and how much storage they take; the steps that "
            "contained a forget image are subtracted.",
    key="storage", figures=_storage_figures)
