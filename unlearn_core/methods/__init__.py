"""Unlearning methods, one module each, registered by decorator and discovered on import."""

from __future__ import annotations

import importlib
import pkgutil

from unlearn_core.methods.base import (
    HISTORY_PANEL,
    METHODS,
    MethodConfig,
    MethodDiverged,
    MethodInfo,
    MethodNotApplicable,
    OracleModel,
    Panel,
    PanelContext,
    PanelFigure,
    TrainingArtifacts,
    UnlearnCancelled,
    UnlearnContext,
    UnlearningMethod,
    UnlearnResult,
    WhatIf,
    WhatIfOutcome,
    execute_method,
    has_diagnostic,
    panel_views,
    param,
    register_method,
    whatif_hooks,
)

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

FAMILY_ORDER = ("oracle", "seed", "baseline")


def list_methods(family: str | None = None) -> list[str]:
    """Registered method names, seed methods first, optionally of one family."""
    names = [n for n in METHODS.names() if family is None or METHODS.get(n).info.family == family]
    return sorted(names, key=lambda n: (FAMILY_ORDER.index(METHODS.get(n).info.family), n))


def get_method(name: str) -> UnlearningMethod:
    return METHODS.get(name)()


__all__ = [
    "HISTORY_PANEL",
    "METHODS",
    "MethodConfig",
    "MethodDiverged",
    "MethodInfo",
    "MethodNotApplicable",
    "OracleModel",
    "Panel",
    "PanelContext",
    "PanelFigure",
    "TrainingArtifacts",
    "UnlearnCancelled",
    "UnlearnContext",
    "UnlearnResult",
    "UnlearningMethod",
    "WhatIf",
    "WhatIfOutcome",
    "execute_method",
    "get_method",
    "has_diagnostic",
    "list_methods",
    "panel_views",
    "param",
    "register_method",
    "whatif_hooks",
]
