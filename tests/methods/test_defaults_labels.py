"""Every parameter of every method carries the paper's or official code's default beside ours, says why ours
differs when it does, and both reach the form's help and the text of `unlearn methods`."""

from __future__ import annotations

import math

import pytest

from unlearn_core import cli
from unlearn_core.methods import METHODS, list_methods
from unlearn_core.methods.base import ParamSpec, format_default


def _paper_value(spec: ParamSpec) -> object | None:
    """The paper default as a value of the parameter's kind, a (low, high) range, or None when it is prose."""
    text = spec.paper.split(" (")[0].strip()
    if spec.type is bool:
        return {"on": True, "yes": True, "off": False, "no": False}.get(text)
    if spec.type in (int, float):
        parts = text.split(" to ")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            return None
        return tuple(values) if len(values) == 2 else values[0]
    return text if text in (spec.choices or (spec.default,)) or text == "empty" else None


def _agrees(spec: ParamSpec, value: object) -> bool:
    if isinstance(value, tuple):
        return value[0] <= spec.default <= value[1]
    if spec.type in (int, float):
        return math.isclose(float(spec.default), float(value), rel_tol=1e-9)
    return value == spec.default or (value == "empty" and spec.default == "")


@pytest.mark.parametrize("name", list_methods())
def test_every_parameter_states_the_paper_default_and_why_ours_differs(name):
    for spec in METHODS.get(name).Config.params():
        where = f"{name}.{spec.name}"
        assert spec.paper, f"{where}: say the paper's or official default, or why there is none"
        value = _paper_value(spec)
        if value is not None and not _agrees(spec, value):
            assert spec.why, f"{where}: ours {spec.default!r} differs from the paper's {spec.paper!r}; say why"
        assert spec.paper in spec.help_text and format_default(spec.default) in spec.help_text, where
        if spec.why:
            assert spec.why in spec.help_text, where


def test_unlearn_methods_text_lists_both_defaults_for_every_parameter(capsys):
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in list_methods():
        for spec in METHODS.get(name).Config.params():
            line = f"    {spec.name:22s} ours {format_default(spec.default):10s} paper/official {spec.paper}"
            assert line in out, line
    assert "    composition            ours official   paper/official official" in out
