"""The layout check: every drawn Plotly figure on a page, read from the DOM.

A figure fails when two of its text elements overlap (tick labels, axis and figure titles, subplot titles,
legend entries, annotations, point labels, colour-bar labels), when a text element is clipped by the figure's
bounds (or a point label by its plot area), when its legend covers its title, or when one axis shows the same
tick label twice (rounded ticks such as 97 %, 97 %, 98 %).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# Runs in the page; returns one line per problem. Boxes come from getBoundingClientRect (screen pixels), so
# rotated and transformed text is measured as drawn. TOL forgives anti-aliasing and sub-pixel rounding.
LAYOUT_JS = r"""
() => {
  const TOL = 1.5;
  const problems = [];
  const visible = el => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    for (let n = el; n && n.nodeType === 1; n = n.parentNode) {
      const s = getComputedStyle(n);
      if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
    }
    return true;
  };
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > TOL &&
                            Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > TOL;
  const inside = (r, box) => r.left >= box.left - TOL && r.right <= box.right + TOL &&
                             r.top >= box.top - TOL && r.bottom <= box.bottom + TOL;
  const kind = el => {
    const c = n => el.closest(n);
    if (c('.gtitle') || el.classList.contains('gtitle')) return 'title';
    if (c('g.legend')) return 'legend';
    if (c('.infolayer .cbtitle') || c('g.colorbar')) return 'colorbar';
    if (c('.annotation')) return 'annotation';
    if (c('.textpoint') || c('g.trace')) return 'label';
    if (c('.xtick') || c('.ytick') || c('[class*="tick"]')) return 'tick';
    if (el.classList.contains('xtitle') || el.classList.contains('ytitle') ||
        /^[xy]\d*title$/.test(el.getAttribute('class') || '')) return 'axis title';
    return 'text';
  };
  const figures = [...document.querySelectorAll('.js-plotly-plot')].filter(visible);
  figures.forEach((fig, n) => {
    const box = fig.getBoundingClientRect();
    const titleEl = fig.querySelector('.gtitle');
    const name = `figure ${n + 1} "${titleEl ? titleEl.textContent.slice(0, 60) : '(untitled)'}"`;
    const texts = [...fig.querySelectorAll('svg text')]
      .filter(t => t.textContent.trim() && visible(t))
      .map(t => ({el: t, text: t.textContent.trim(), kind: kind(t), r: t.getBoundingClientRect()}));
    const areas = [...fig.querySelectorAll('.draglayer .nsewdrag')].map(d => d.getBoundingClientRect());
    for (const t of texts) {
      if (!inside(t.r, box)) problems.push(`${name}: ${t.kind} "${t.text}" is cut by the figure's edge`);
      const clipped = n => { for (; n && n !== fig; n = n.parentNode)
                               if (n.getAttribute && n.getAttribute('clip-path')) return true; return false; };
      if (t.kind === 'label' && t.el.closest('.textpoint') && clipped(t.el) && areas.length &&
          !areas.some(a => inside(t.r, a)))
        problems.push(`${name}: point label "${t.text}" is cut by its plot area`);
    }
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++) {
        const a = texts[i], b = texts[j];
        if (a.kind === 'label' && b.kind === 'label' && a.el.closest('g.hm, g.heatmaplayer') ) continue;
        if (overlap(a.r, b.r))
          problems.push(`${name}: ${a.kind} "${a.text}" overlaps ${b.kind} "${b.text}"`);
      }
    const legend = fig.querySelector('g.legend');
    if (legend && titleEl && visible(legend) && visible(titleEl) &&
        overlap(legend.getBoundingClientRect(), titleEl.getBoundingClientRect()))
      problems.push(`${name}: the legend covers the title`);
    const axes = new Map();
    // one group per axis: Plotly names a cartesian axis's tick groups xtick, x2tick, ytick, y2tick, ...; the
    // dimensions of parallel coordinates all name theirs "tick", each inside its own g.y-axis
    fig.querySelectorAll('g[class$="tick"] > text').forEach(t => {
      if (!t.textContent.trim() || !visible(t)) return;
      const key = t.closest('g.y-axis') || t.parentNode.getAttribute('class');
      axes.set(key, [...(axes.get(key) || []), t.textContent.trim()]);
    });
    for (const labels of axes.values()) {
      const seen = new Set();
      for (const l of labels) {
        if (seen.has(l)) { problems.push(`${name}: tick label "${l}" appears twice on one axis`); break; }
        seen.add(l);
      }
    }
  });
  return {figures: figures.length, problems: [...new Set(problems)]};
}
"""


def layout_problems(page) -> tuple[int, list[str]]:
    """(number of drawn figures, problems) of the Plotly figures currently on the page."""
    result = page.evaluate(LAYOUT_JS)
    return result["figures"], result["problems"]


def wait_idle(page, timeout_s: float = 60) -> None:
    """Waits until Streamlit has finished the current script run (no 'running' status widget)."""
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout_s * 1000)  # every page has a title
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator("[data-testid='stStatusWidget']").count() == 0:
            time.sleep(0.5)
            if page.locator("[data-testid='stStatusWidget']").count() == 0:
                return
        time.sleep(0.3)


def settle_figures(page, timeout_s: float = 60) -> None:
    """Waits until the page's Plotly figures have all drawn their SVG and neither their number nor their
    sizes changed over three polls (Streamlit mounts charts one by one after the script run ends)."""
    deadline = time.monotonic() + timeout_s
    history: list = []
    while time.monotonic() < deadline:
        # a chart Streamlit has mounted but Plotly has not drawn yet is a grey skeleton without an svg
        state = page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"], "
                              ".plotly-graph-div')].filter(d => d.getBoundingClientRect().width > 0).map(d => "
                              "[!!d.querySelector('svg.main-svg'), Math.round(d.getBoundingClientRect().height)])")
        history = [*history[-2:], state]
        if len(history) == 3 and all(h == state for h in history) and all(drawn for drawn, _ in state):
            return
        time.sleep(0.7)


# UNLEARN_SCREENSHOTS=1 regenerates the README's page screenshots (on purpose, not on every test run)
README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def readme_shots_wanted() -> bool:
    return os.environ.get("UNLEARN_SCREENSHOTS") == "1"


def full_page_shot(page, path: Path, width: int = 1400, height: int = 1000) -> None:
    """Streamlit scrolls inside its main container, so the viewport is stretched to the page's height first, then
    set back to width x height."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scrolled = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    page.set_viewport_size({"width": width, "height": min(int(scrolled or height) + 40, 7000)})
    time.sleep(1.5)  # let Plotly redraw at the new size
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": height})
