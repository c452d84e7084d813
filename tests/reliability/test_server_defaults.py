"""Server defaults: the dashboard binds to localhost with XSRF protection and an upload limit, in the config file,
in `unlearn dashboard` (which pins them on the command line) and in the README's launch command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from relhelpers import run_cli

from unlearn_core import cli
from unlearn_core.models.checkpoint import MAX_UPLOAD_BYTES

ROOT = Path(__file__).resolve().parents[2]


def _flags(command: list[str]) -> dict[str, str]:
    return {command[i]: command[i + 1] for i in range(len(command) - 1) if command[i].startswith("--")}


def test_config_file_binds_localhost_with_xsrf_and_an_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1" and server["headless"] is True
    assert server["enableXsrfProtection"] is True
    assert server.get("enableCORS", True) is True  # never switched off (Streamlit needs it on with XSRF)
    assert 0 < server["maxUploadSize"] <= MAX_UPLOAD_BYTES / 2**20
    assert config["browser"]["gatherUsageStats"] is False


@pytest.mark.parametrize("address, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_unlearn_dashboard_pins_the_safe_flags(monkeypatch, address, warned):
    launched: list[list[str]] = []
    monkeypatch.setattr(cli, "run_forwarding_signals", lambda command, **kwargs: launched.append(command) or 0)
    result = run_cli("dashboard", *(["--address", address] if address != "127.0.0.1" else []))
    assert result.code == 0
    flags = _flags(launched[0])
    assert flags["--server.address"] == address
    assert flags["--server.enableXsrfProtection"] == "true" and flags["--server.headless"] == "true"
    assert flags["--server.maxUploadSize"] == "200" and flags["--browser.gatherUsageStats"] == "false"
    assert ("docs/security.md" in result.stderr) is warned


def test_readme_launch_commands_keep_the_defaults():
    readme = (ROOT / "README.md").read_text()
    launches = [line.strip() for line in readme.splitlines() if re.search(r"unlearn dashboard|streamlit run", line)]
    assert launches, "the README shows how to start the dashboard"
    for line in launches:
        assert "enableXsrfProtection false" not in line and "enableXsrfProtection=false" not in line, line
        address = re.search(r"--(?:server\.)?address[ =](\S+)", line)
        assert address is None or address.group(1) in ("127.0.0.1", "localhost"), line
    assert "docs/security.md" in readme
    assert (ROOT / "docs" / "security.md").is_file()
