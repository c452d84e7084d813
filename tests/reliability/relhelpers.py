"""Helpers shared by the reliability tests (a plain module: tests/reliability is put on sys.path)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass


def clone_models(source, target) -> None:
    """Copies the trained models (base models, retrain oracles; not imported checkpoints, which tests of the
    import path count) between workspaces through the Store API."""
    for row in source.list_models():
        if row["kind"] != "imported" and not target.has_model(row["key"]):
            state, meta, tensors = source.load_model(row["key"])
            target.save_model(row["key"], row["kind"], state, meta, tensors)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """`unlearn ARGS` in this process (fast: no interpreter or torch start-up), with its exit code and output."""
    from unlearn_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


def error_line(result: CliResult) -> str:
    """The CLI's bad-input contract: exit 2, nothing on stdout, exactly one line on stderr (progress aside)."""
    assert result.code == 2, (result.code, result.stderr[-500:])
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("[")]  # drop progress lines
    assert len(lines) == 1, lines
    return lines[0]
