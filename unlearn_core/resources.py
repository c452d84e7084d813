"""Where the dashboard and its assets live: beside the package in a source checkout, or under
`<prefix>/share/unlearning-lab/` after a (non-editable) `pip install .`, which ships app.py, pages/, assets/ and
.streamlit/config.toml there as data files (pyproject.toml, [tool.setuptools.data-files])."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

SHARE = Path("share") / "unlearning-lab"


def _candidates() -> list[Path]:
    checkout = Path(__file__).resolve().parent.parent
    prefixes = dict.fromkeys([sysconfig.get_path("data"), sys.prefix, sys.base_prefix])
    return [checkout] + [Path(p) / SHARE for p in prefixes if p]


def dashboard_root() -> Path | None:
    """The folder holding app.py and pages/ (None when neither a checkout nor an installed copy exists)."""
    for folder in _candidates():
        if (folder / "app.py").is_file() and (folder / "pages").is_dir():
            return folder
    return None


def assets_dir() -> Path:
    """The assets folder (method cards, report stylesheet, logo); the checkout's when there is one."""
    for folder in _candidates():
        if (folder / "assets").is_dir():
            return folder / "assets"
    return _candidates()[0] / "assets"
