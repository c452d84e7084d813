"""The HTML report is self-contained and escaped; the CSV and JSON exports hold every metric and configuration;
the CLI writes all three; the Report page builds and offers the downloads."""

from __future__ import annotations

import io
import json
import re
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from unlearn_core import UserInputError, cli
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.report import markdown_html, metrics_csv, report_html, report_json, write_report

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def runs(lab, digits_base) -> list[dict]:
    """Two finished runs and one failed run whose error text is hostile markup."""
    spec, forget = ExperimentSpec(), ForgetSpec(classes=(3,))
    ok = [lab.run(spec, forget, "slug"), lab.run(spec, forget, "gradient_ascent", {"epochs": 2})]
    failed = {**ok[1], "run_id": None, "status": "failed", "metrics": None, "seconds": None,
              "error": f"diverged {HOSTILE}", "notes": [HOSTILE]}
    failed["run_id"] = lab.store.start_run(failed)
    lab.store.finish_run(failed["run_id"], failed)
    return [*ok, failed]


@pytest.fixture(scope="module")
def page(lab, runs) -> str:
    return report_html(lab, [r["run_id"] for r in runs])


def test_report_is_self_contained(page):
    assert page.count("Plotly.newPlot(") == len(re.findall(r'class="plotly-graph-div"', page)) >= 8
    assert page.count("plotly.js v") <= 2  # the library's banner: inlined once
    body = page.split("</head>", 1)[1]  # the head holds the inlined plotly.js, whose strings name its website
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", body), "nothing may load from a network"
    assert "<link" not in page and page.count("<script type='text/javascript'>") == 1
    thumbnails = re.findall(r"<img src='data:image/png;base64,[A-Za-z0-9+/=]+'", page)
    assert len(thumbnails) == 16  # forget-set thumbnails


def test_report_contents(page, runs):
    for text in ("At a glance", "Experiment", "Forget set", "Verdicts", "Metrics against the retrain oracle",
                 "Forgetting vs utility", "Per-class test accuracy", "Privacy attacks", "Integrated Gradients",
                 "Inside the methods", "The methods", "Reproduce", "Software and environment", "143 training images"):
        assert text in page, text
    assert "One gradient, one layer, one step" in page  # slug's method card
    for record in runs:
        assert record["run_id"] in page
    assert "unlearn run --config run.json" in page


def test_every_user_string_is_escaped(page):
    assert HOSTILE not in page
    assert "diverged &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_markdown_subset_escapes_first():
    out = markdown_html("# Title\n*tag* and **bold** `code`\n\n- one\n- two <b>\n\nplain <i>x</i>")
    assert "<h3>Title</h3>" in out and "<em>tag</em>" in out and "<strong>bold</strong>" in out
    assert "<code>code</code>" in out and "<li>two &lt;b&gt;</li>" in out and "&lt;i&gt;x&lt;/i&gt;" in out


def test_csv_and_json_hold_every_metric_and_config(lab, runs):
    ids = [r["run_id"] for r in runs]
    table = pd.read_csv(io.StringIO(metrics_csv(lab, ids)))
    # the variant is named by what differs from gradient_ascent's defaults, the same in the table as on Compare
    assert list(table["label"]) == ["original", "retrain", "slug", "gradient_ascent (epochs=2)",
                                    "gradient_ascent (epochs=2)"]
    assert list(table["status"]) == ["ok", "ok", "ok", "ok", "failed"]
    slug = table[table["label"] == "slug"].iloc[0]
    assert slug["forget_acc"] == runs[0]["metrics"]["forget_acc"]
    assert slug["test_acc_class_3"] == runs[0]["metrics"]["per_class_acc"][3]
    assert json.loads(slug["params"]) == runs[0]["params"]
    export = json.loads(report_json(lab, ids))
    (scenario,) = export["scenarios"]
    assert scenario["retrain"]["forget_acc"] == runs[0]["retrain"]["forget_acc"]
    assert [r["run_id"] for r in scenario["runs"]] == ids
    assert scenario["runs"][1]["params"]["epochs"] == 2 and scenario["runs"][1]["experiment"]["dataset"] == "digits"


def test_cli_writes_html_csv_and_json(lab, runs, tmp_path, capsys):
    ids = ",".join(r["run_id"] for r in runs[:2])
    out, csv_path, json_path = tmp_path / "r.html", tmp_path / "m.csv", tmp_path / "m.json"
    code = cli.main(["report", "--runs", ids, "--out", str(out), "--csv", str(csv_path), "--json-out",
                     str(json_path), "--device", "cpu", "--json"])
    assert code == 0
    written = json.loads(capsys.readouterr().out)
    assert written == {"report": str(out), "csv": str(csv_path), "json": str(json_path)}
    assert out.read_text().startswith("<!DOCTYPE html>") and len(pd.read_csv(csv_path)) == 4
    assert len(json.loads(json_path.read_text())["scenarios"][0]["runs"]) == 2
    assert cli.main(["report", "--runs", "no-such-run", "--out", str(out)]) == 2
    assert "no run with id" in capsys.readouterr().err
    with pytest.raises(UserInputError):
        write_report(lab, [], out)


def test_report_page_builds_and_offers_downloads(runs):
    sys.path[:0] = [str(ROOT / "tests" / "app"), str(ROOT)]
    from apphelpers import assert_clean, open_page

    at = open_page("pages/report.py")
    assert_clean(at)
    at.multiselect(key="report_runs").set_value([r["run_id"] for r in runs[:2]]).run()
    at.button(key="report_build").click().run()
    deadline = time.monotonic() + 120
    while not at.success and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert_clean(at)
    assert "ready" in at.success[0].value
    labels = [e.proto.label for e in at.get("download_button")]
    assert {"Download HTML report", "Download metrics (CSV)", "Download metrics and configs (JSON)"} <= set(labels)
    assert [b.label for b in at.button].count("Run preset") >= 3
    assert any("CIFAR-10" in w.value for w in at.warning) or any("cifar" in m.value.lower() for m in at.markdown)
