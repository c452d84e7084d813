"""The one progress-callback type of the engine, and its two helpers.

Long work (training, unlearning, studies, benchmarks, background jobs) reports `progress(fraction, message)`
with `fraction` in [0, 1]; callers that do not care pass `quiet`, and a step of a larger job reports through
`scaled` so that its fractions fill its share of the whole.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def quiet(fraction: float, message: str) -> None:
    """A progress callback that ignores every report."""
    return None


def scaled(progress: Progress, lo: float, hi: float) -> Progress:
    """A callback that maps a step's fractions [0, 1] onto [lo, hi] of `progress`."""
    def report(fraction: float, message: str) -> None:
        progress(lo + (hi - lo) * fraction, message)

    return report


__all__ = ["Progress", "quiet", "scaled"]
