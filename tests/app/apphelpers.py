"""Helpers shared by the AppTest files (imported as a plain module: tests/app is on sys.path)."""

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


def assert_clean(at: AppTest) -> None:
    """No exception element and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    """All markdown, captions, titles and subheaders of the page, joined."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [h.value for h in at.subheader] + [i.value for i in at.info]
    return "\n".join(parts)
