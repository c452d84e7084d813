"""Acceptance: a new method is one file. A test-only method with a config and one diagnostic panel, written to a
temporary module and registered by importing it, shows up in `unlearn methods`, the Unlearn form, the contract
tests, the Inside page and the report, with no other file changed."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from apphelpers import assert_clean, open_page, texts

from unlearn_core import cli
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import METHODS
from unlearn_core.report import report_html

NAME = "toy_shrink"
METHOD_FILE = '''
"""Toy method (test only): shrinks the last layer's weights by a factor."""

from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from unlearn_core.methods.base import (
    MethodConfig, MethodInfo, Panel, PanelFigure, UnlearningMethod, UnlearnResult, param, register_method,
)


def _norm_bars(diag, ctx):
    norms = diag["toy_norms"]
    return [PanelFigure(go.Figure(go.Bar(x=list(norms), y=list(norms.values()))), f"norms of {ctx.label}")]


@register_method("toy_shrink")
class ToyShrink(UnlearningMethod):
    info = MethodInfo(title="Toy shrink", summary="Shrinks the last layer (test only).", paper="none",
                      family="baseline", needs_retain=False)
    panels = (Panel(title="toy layer norms", caption="Norm of every weight tensor after shrinking.",
                    key="toy_norms", figures=_norm_bars),)

    @dataclass(frozen=True)
    class Config(MethodConfig):
        factor: float = param(0.5, min=0.0, max=1.0, help="what the last layer is multiplied by",
                              paper="none (test method)")

    def unlearn(self, model, splits, artifacts, cfg, ctx):
        ctx.report(0.0, "shrinking")
        last = [p for n, p in model.named_parameters() if n.endswith("weight")][-1]
        with torch.no_grad():
            last.mul_(cfg.factor)
        ctx.report(1.0, "done")
        norms = {n: float(p.detach().norm()) for n, p in model.named_parameters() if n.endswith("weight")}
        return UnlearnResult(model, {"toy_norms": norms})
'''


def _load_contract_tests():
    path = Path(__file__).resolve().parents[1] / "contract" / "test_methods_contract.py"
    spec = importlib.util.spec_from_file_location("contract_for_new_method", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def toy_method(tmp_path, lab):
    path = tmp_path / "toy_shrink_method.py"
    path.write_text(METHOD_FILE)
    spec = importlib.util.spec_from_file_location("toy_shrink_method", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # registers the method
    run_ids: list[str] = []
    try:
        yield run_ids
    finally:
        METHODS._items.pop(NAME, None)
        for run_id in run_ids:
            lab.store.delete_run(run_id)


def test_a_new_method_file_shows_up_everywhere(toy_method, lab, digits_base):
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["methods", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(out.getvalue())["methods"]}
    assert listed[NAME]["params"][0]["name"] == "factor"

    contract = _load_contract_tests()
    assert NAME in contract.ALL
    contract.test_metadata_and_typed_config(NAME)
    contract.test_config_rejects_bad_values(NAME)
    contract.test_runs_reports_progress_is_deterministic_and_leaves_the_original_alone(NAME, lab, digits_base)
    contract.test_cancel_stops_the_method(NAME, lab, digits_base)

    at = open_page("pages/unlearn.py")
    assert_clean(at)
    assert at.checkbox(key=f"unlearn_use_{NAME}") is not None

    record = lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), NAME, {"factor": 0.25})
    toy_method.append(record["run_id"])
    assert record["status"] == "ok"

    at = open_page("pages/inside.py")
    assert_clean(at)
    assert f"{NAME} (factor=0.25): toy layer norms" in texts(at)  # a variant is named by what differs

    html = report_html(lab, [record["run_id"]])
    assert "toy layer norms" in html and "Norm of every weight tensor after shrinking." in html
    assert f"norms of {NAME}" in html
    assert NAME not in sys.modules  # the method lives in its temporary file only
