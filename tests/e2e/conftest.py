"""Browser-test fixtures: one app server on a workspace that already holds the demo's runs, shared by every
browser test of the session (starting Streamlit and loading torch costs several seconds each time)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).parent)]  # the e2ehelpers and e2eserver modules

from e2eserver import start_server  # noqa: E402  (a module of its own: `from conftest import` is ambiguous)

# what the populated workspace holds: the demo's scenario, plus a variant and a second scenario
POPULATED_METHODS = ("semu", "slug", "mnemonic", "partial_label_flip", "partial_gradient_ascent")
VARIANT = ("semu", {"tau": 0.99})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a private, empty workspace (one per test module); yields its URL."""
    proc, url = start_server(tmp_path_factory.mktemp("e2e_home"), tmp_path_factory.mktemp("e2e_log") / "server.log")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session")
def populated_home(lab, digits_base, tmp_path_factory) -> Path:
    """A private workspace with the session's trained models and the demo's runs (class 3 forgotten), one
    semu variant, and a second scenario (class 5)."""
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec, Lab
    from unlearn_core.store import Store

    home = tmp_path_factory.mktemp("e2e_populated")
    store = Store(home)
    for row in lab.store.list_models():
        if row["kind"] != "imported":
            state, meta, tensors = lab.store.load_model(row["key"])
            store.save_model(row["key"], row["kind"], state, meta, tensors)
    private = Lab(store, device="cpu")
    spec = ExperimentSpec()
    private.run(spec, ForgetSpec(classes=(5,)), "gradient_ascent", {})
    for method in POPULATED_METHODS:
        private.run(spec, ForgetSpec(classes=(3,)), method, {})
    private.run(spec, ForgetSpec(classes=(3,)), VARIANT[0], dict(VARIANT[1]))
    return home

@pytest.fixture(scope="session")
def app_server(populated_home, tmp_path_factory):
    proc, url = start_server(populated_home, tmp_path_factory.mktemp("e2e_log") / "server.log")
    yield url
    proc.terminate()
    proc.wait(timeout=20)

@pytest.fixture
def context(browser):
    """A fresh browser context (its own Streamlit session) per test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield ctx
    ctx.close()
