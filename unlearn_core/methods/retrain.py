"""The gold standard: train from scratch on the retain set with the base model's recipe."""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn

from unlearn_core.data import Splits
from unlearn_core.methods.base import (
    MethodConfig,
    MethodInfo,
    TrainingArtifacts,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    register_method,
)
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import TrainingCancelled, train_model


@register_method("retrain")
class Retrain(UnlearningMethod):
    info = MethodInfo(
        edits=("all",), norm_mode="fresh",  # on any architecture (MethodInfo.edits)
        title="Retrain (oracle)",
        summary="Train from scratch without the forget set: the reference every method is measured against.",
        paper="Exact unlearning baseline",
        family="oracle",
        needs_retain=True,
        needs_forget_data=False,
    )

    @dataclass(frozen=True)
    class Config(MethodConfig):
        pass

    def unlearn(self, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts, cfg: MethodConfig,
                ctx: UnlearnContext) -> UnlearnResult:
        if ctx.oracle is not None:  # the Lab trains the oracle once per (base model, forget set): reuse it
            ctx.report(1.0, "reusing the cached retrain oracle")
            return UnlearnResult(ctx.oracle.model, {"history": ctx.oracle.history}, [
                "the retrain oracle is trained once per (base model, forget set) and cached; seconds is its "
                "recorded training time"], seconds=ctx.oracle.seconds)
        x, y = splits.retain()
        fresh = build_model(artifacts.arch, artifacts.input_shape, artifacts.num_classes)
        try:
            outcome = train_model(
                fresh, x, y, replace(artifacts.recipe, record_updates=False),
                seed=artifacts.seed, device=ctx.device, sample_ids=splits.retain_idx, codes=artifacts.codes,
                progress=ctx.report, stop=ctx.stop_event,
            )
        except TrainingCancelled:
            ctx.check_cancelled()
            raise
        return UnlearnResult(outcome.model, {"history": outcome.history})
