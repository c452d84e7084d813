"""AppTest fixtures: the dashboard against the session workspace, with a few fast runs stored in it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make the helpers module and the app's `pages` package importable
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).resolve().parents[2])]

@pytest.fixture(scope="session")
def populated(lab, digits_base):
    """Two quick baseline runs forgetting class 3 (the retrain oracle is trained on the way)."""
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec

    forget = ForgetSpec(classes=(3,))
    return [lab.run(ExperimentSpec(), forget, "finetune", {"epochs": 1}),
            lab.run(ExperimentSpec(), forget, "gradient_ascent", {"epochs": 1})]
