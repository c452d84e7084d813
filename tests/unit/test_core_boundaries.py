"""Architecture rules: the core never imports Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import unlearn_core

CORE = Path(unlearn_core.__file__).parent


def test_core_never_imports_streamlit():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(CORE)))
    assert offenders == []


# Layers of the engine, lowest first: a module may import its own layer and the layers below, never one above.
# The orchestration layer (studies, presets, report, bench, cli) sits above the Lab, so the Lab and everything
# it is built from never reach up into it.
LAYERS = [
    {"registry", "validation", "labels", "resources", "progress", "device", "results", "store", "data", "models",
     "persample", "metrics", "methods", "analysis", "viz"},
    {"experiment", "jobs"},
    {"studies", "presets", "report", "bench", "bench_threads", "bench_archs", "bench_scale", "card"},
    {"cli"},
]


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "unlearn_core" or len(parts) < 2:
        return None
    return next((i for i, names in enumerate(LAYERS) if parts[1] in names), None)


def test_no_import_in_the_core_runs_upward():
    offenders = []
    for path in CORE.rglob("*.py"):
        module = "unlearn_core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
        own = _layer(module)
        if own is None:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            for target in targets:
                layer = _layer(target)
                if layer is not None and layer > own:
                    offenders.append(f"{module} imports {target}")
    assert offenders == []


def test_every_core_module_has_a_layer():
    unplaced = {p.relative_to(CORE).parts[0].removesuffix(".py") for p in CORE.rglob("*.py")} - {"__init__"}
    assert unplaced <= set().union(*LAYERS), "place every new top-level module in LAYERS above"


def test_the_progress_type_is_defined_once():
    """Every module takes unlearn_core.progress.Progress; none defines its own alias."""
    offenders = []
    for path in [*CORE.rglob("*.py"), *(CORE.parent / "pages").rglob("*.py")]:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "Progress"
                                                    for t in node.targets):
                offenders.append(str(path))
    assert offenders == [str(CORE / "progress.py")]
