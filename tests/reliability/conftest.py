"""Reliability fixtures: private workspaces that reuse the session's trained digits model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# AppTest runs app.py, which imports the `pages` package from the repository root; the AppTest helpers are the
# ones tests/app uses (apphelpers), the other helper modules sit here
sys.path[:0] = [str(Path(__file__).parent), str(ROOT / "tests" / "app"), str(ROOT)]


@pytest.fixture
def home(tmp_path: Path, lab, digits_base, monkeypatch) -> Path:
    """A private UNLEARN_HOME holding the session's trained models and no runs; CLI and app use it."""
    from relhelpers import clone_models

    from unlearn_core.store import Store

    path = tmp_path / "home"
    clone_models(lab.store, Store(path))
    monkeypatch.setenv("UNLEARN_HOME", str(path))
    monkeypatch.setenv("UNLEARN_DEVICE", "cpu")
    return path


@pytest.fixture
def private_lab(home: Path):
    from unlearn_core.experiment import Lab
    from unlearn_core.store import Store

    return Lab(Store(home), device="cpu")
