"""The README's tour shows every page of the dashboard's navigation: one screenshot per page, named after its file
(docs/screenshots/<page>.png), and every picture the README shows exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_navigation_page_has_its_screenshot_in_the_readme_tour():
    pages = re.findall(r'st\.Page\("pages/(\w+)\.py"', (ROOT / "app.py").read_text())
    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[\w.]+)\)", readme)
    assert len(pages) >= 10, pages
    assert [f"docs/screenshots/{page}.png" for page in pages] == shown  # the tour follows the navigation's order
    assert all((ROOT / path).is_file() for path in shown)
