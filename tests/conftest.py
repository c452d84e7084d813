"""Shared fixtures: a private workspace per test session, and one trained default digits model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# one thread: deterministic, and immune to OpenMP spin-waiting when other processes share the cores
torch.set_num_threads(1)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session: Playwright's sync API runs one instance per thread, so a
    second `sync_playwright()` while another is open fails inside its event loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for the whole session, so the default digits model is trained once."""
    home = tmp_path_factory.mktemp("unlearn_home")
    os.environ["UNLEARN_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def lab(session_home: Path):
    from unlearn_core.experiment import Lab
    from unlearn_core.store import Store

    return Lab(Store(session_home), device="cpu")


@pytest.fixture(scope="session")
def digits_base(lab):
    from unlearn_core.experiment import ExperimentSpec

    return lab.base_model(ExperimentSpec())


@pytest.fixture
def fresh_store(tmp_path: Path):
    from unlearn_core.store import Store

    return Store(tmp_path / "ws")
