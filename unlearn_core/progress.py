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


def staged(progress: Progress, stages: list[tuple[str, float]], end: float = 1.0) -> dict[str, Progress]:
    """One callback per named stage, in order: each fills its share of [0, `end`] (weights normalised over the
    stages; a stage of weight 0, e.g. a model already trained, takes none, so a run whose models are cached starts
    at 0 with its own work), and prefixes its messages with the stage's name, so a bar says what is running."""
    total = sum(weight for _, weight in stages) or 1.0
    out: dict[str, Progress] = {}
    lo = 0.0
    for name, weight in stages:
        hi = lo + end * weight / total

        def report(fraction: float, message: str, name: str = name, lo: float = lo, hi: float = hi) -> None:
            named = not message or name in message  # "training the retrain oracle" already says it
            progress(lo + (hi - lo) * fraction, (message or name) if named else f"{name}: {message}")

        out[name] = report
        lo = hi
    return out


__all__ = ["Progress", "quiet", "scaled", "staged"]
