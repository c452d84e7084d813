"""The dashboard ships with the package: every file it needs is listed as a data file of the wheel, and the
CLI finds it beside the package (source checkout) or under <prefix>/share/unlearning-lab (installed)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from unlearn_core import resources

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("app.py", "pages", "assets", ".streamlit/config.toml")


def shipped() -> dict[str, str]:
    """{source file: folder it is installed to} from pyproject.toml's data-files table."""
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    return {str(path.relative_to(ROOT)): target for target, patterns in table.items() for pattern in patterns
            for path in ROOT.glob(pattern) if path.is_file()}


def test_every_dashboard_file_is_a_data_file_in_its_own_folder():
    files = shipped()
    needed = []
    for name in NEEDED:
        path = ROOT / name
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in
                                               p.parts and p.suffix != ".pyc"]
        needed += [str(p.relative_to(ROOT)) for p in found]
    missing = sorted(set(needed) - set(files))
    assert not missing, f"add these to [tool.setuptools.data-files]: {missing}"
    for source, target in files.items():  # the layout under share/ mirrors the checkout, so pages/ imports work
        assert target == (Path("share/unlearning-lab") / Path(source).parent).as_posix(), (source, target)


def test_the_dashboard_is_found_in_a_checkout_and_in_an_installed_prefix(tmp_path, monkeypatch):
    assert resources.dashboard_root() == ROOT and resources.assets_dir() == ROOT / "assets"
    installed = tmp_path / "share" / "unlearning-lab"
    (installed / "pages").mkdir(parents=True)
    (installed / "assets").mkdir()
    (installed / "app.py").write_text("")
    monkeypatch.setattr(resources, "__file__", str(tmp_path / "site-packages" / "unlearn_core" / "resources.py"))
    monkeypatch.setattr(resources.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "elsewhere"))
    assert resources.dashboard_root() == installed and resources.assets_dir() == installed / "assets"
