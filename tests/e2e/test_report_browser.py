"""The exported report in headless Chromium with every non-file request blocked: no console error, every
figure drawn. Saves a full-page screenshot (REPORT_SCREENSHOT=path to keep it elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.report import write_report

pytestmark = pytest.mark.e2e



def test_report_opens_offline_with_every_figure_drawn(lab, digits_base, tmp_path, browser):
    spec, forget = ExperimentSpec(), ForgetSpec(classes=(3,))
    runs = [lab.run(spec, forget, m, p) for m, p in (("slug", {}), ("mnemonic", {}), ("gradient_ascent", {}))]
    report = write_report(lab, [r["run_id"] for r in runs], tmp_path / "report.html")
    expected = report.read_text().count('class="plotly-graph-div"')
    blocked, errors = [], []
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = context.new_page()

        def offline(route) -> None:
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        page.route("**/*", offline)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_function(
            "n => [...document.querySelectorAll('.js-plotly-plot')].filter(d => d.querySelector('svg.main-svg'))"
            ".length >= n", arg=expected, timeout=60_000)
        # drawn = an svg with at least one rendered trace (lines, markers, bars, heatmap or image) and a height
        drawn = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].filter(d => "
                              "d.querySelector('svg.main-svg') && d.querySelector('g.trace, g.hm, image, .point')"
                              " && d.getBoundingClientRect().height > 100).length")
        images = page.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length")
        shot = Path(os.environ.get("REPORT_SCREENSHOT") or tmp_path / "report.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert errors == [] and blocked == []
    assert expected >= 10 and drawn == expected
    assert images == 16
    assert shot.stat().st_size > 50_000
