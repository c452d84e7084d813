"""Where a method's faithful defaults fail (MethodInfo.known_limits): on its MethodInfo, in `unlearn methods` and on
its method card; and the Fashion-MNIST table script's calibrated rows, labelled and merged beside the faithful ones."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from unlearn_core.cli import cmd_methods
from unlearn_core.methods import get_method, list_methods
from unlearn_core.methods.base import MethodInfo

ROOT = Path(__file__).resolve().parents[2]
FAILING_HERE = ("semu", "ssd", "gradient_ascent", "mnemonic")  # benchmarks/fmnist_results.md


def _table_script():
    spec = importlib.util.spec_from_file_location("fmnist_results", ROOT / "benchmarks" / "fmnist_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_field_is_optional_and_empty_by_default():
    info = MethodInfo(title="t", summary="s", paper="p", family="baseline", needs_retain=False)
    assert info.known_limits == ""


@pytest.mark.parametrize("method", FAILING_HERE)
def test_methods_whose_defaults_fail_on_fashion_mnist_say_so_and_why(method: str):
    limits = get_method(method).info.known_limits
    assert "Fashion-MNIST" in limits and "calibrated" in limits
    card = (ROOT / "assets" / "method_cards" / f"{method}.md").read_text()
    assert "On Fashion-MNIST" in card and "fmnist_results.md" in card


@pytest.mark.parametrize("method", ["scrub", "neggrad_plus"])
def test_methods_that_break_at_full_data_say_so_without_a_calibrated_row(method: str):
    limits = get_method(method).info.known_limits
    assert "Fashion-MNIST" in limits and "fmnist-cnn.md" in limits and "No calibrated setting" in limits
    assert "fmnist-cnn.md" in (ROOT / "assets" / "method_cards" / f"{method}.md").read_text()


def test_unlearn_methods_shows_them(capsys):
    cmd_methods(argparse.Namespace(json=True))
    items = {m["name"]: m for m in json.loads(capsys.readouterr().out)["methods"]}
    assert set(items) == set(list_methods())
    assert items["ssd"]["known_limits"] == get_method("ssd").info.known_limits
    cmd_methods(argparse.Namespace(json=False))
    assert "where defaults fail" in capsys.readouterr().out


def test_calibrated_rows_are_labelled_and_merged_beside_the_faithful_row():
    script = _table_script()
    label = script.calibrated_label("semu", "lr", 1e-4, 9)
    assert label == "semu (calibrated: lr=0.0001, chosen on seed 9)"
    stored = script.rows_from_markdown("\n".join([
        "# title", "", "preamble", "", "## class-wise", "",
        "| method | UA | verdict (over seeds) |", "|---|---|---|",
        "| **original** | 2.00 | |", "| **retrain (oracle)** | 100.00 | |",
        "| semu | 99.87 | partly forgotten ×3 |", "| slug | 99.93 | partly forgotten ×3 |", "",
        "Sweep wall time: 44 min."]))
    assert [label for label, _ in stored["scenarios"][0]["rows"]] == ["original", "retrain (oracle)", "semu", "slug"]
    assert stored["preamble"] == "# title\n\npreamble" and stored["footer"] == "Sweep wall time: 44 min."
    fresh = [{"title": "class-wise", "rows": [
        ["original", "| **original** | 2.00 | |"], ["retrain (oracle)", "| **retrain (oracle)** | 100.01 | |"],
        ["semu", "| semu | 99.87 | partly forgotten ×3 |"], [label, f"| {label} | 100.00 | forgotten ×3 |"]]}]
    merged, compared = script.merge(stored, fresh, ["semu"])
    rows = merged[0]["rows"]
    assert [r[0] for r in rows] == ["original", "retrain (oracle)", "semu", label, "slug"]
    assert rows[-1][1] == "| slug | 99.93 | partly forgotten ×3 |"  # a method not run keeps its stored row
    assert compared["same"] == ["class-wise: original", "class-wise: semu"]
    assert len(compared["different"]) == 1 and "retrain (oracle)" in compared["different"][0]
    again, _ = script.merge({**stored, "scenarios": merged}, fresh, ["semu"])
    assert again == merged  # merging the same run twice adds no second calibrated row
    text = script.render({**stored, "scenarios": merged, "why": []})
    assert f"| {label} | 100.00 |" in text and text.index("| semu |") < text.index(label) < text.index("| slug |")
    why = [{"scenario": "class-wise", "method": "semu", "text": "measured reason", "search": "values tried"}]
    text = script.render({**stored, "scenarios": merged, "why": why})
    assert f"| semu | 99.87 | partly forgotten ×3; {script.FAILS_HERE} |" in text  # the faithful row says so
    assert f"| {label} | 100.00 | forgotten ×3 |" in text and "**semu, class-wise.** measured reason" in text


def test_the_run_time_alone_does_not_count_as_a_difference():
    script = _table_script()
    row = "| semu | 99.87 ± 0.23 | 57.77 ± 9.04 | 57.00 ± 7.49 | 99.07 ± 0.81 | 16.02 ± 4.34 | {} | partly ×3 |"
    assert script._cells_but_time(row.format("14.0 ± 0.8")) == script._cells_but_time(row.format("31.2 ± 5.0"))
    assert script._cells_but_time(row.format("1")) != script._cells_but_time(row.format("1").replace("57.77", "5"))
