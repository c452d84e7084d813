"""AppTest helpers for the reliability tests (imported as a plain module: tests/reliability is on sys.path)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str | None = None, timeout: float = 120) -> AppTest:
    """Runs app.py (navigation and sidebar included), then switches to `page` if given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at
