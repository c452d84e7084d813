"""The one-click demo as a study: a plan with an estimate before it starts, then one job that reports its stage
and time left from its first second.

The plan lists the stages (train or load the model, train or load the retrain oracle, one run per method),
skips methods that refuse the scenario (with their reason, before anything runs where the refusal depends only
on the scenario, and at run time where it depends on the trained model, e.g. partial_amnesiac on a class), and
reuses a finished run with the same model, forget set and default parameters instead of adding a duplicate.
Estimates come from this workspace's own history (median wall time of earlier runs of the method on the same
dataset and architecture, the stored models' training times) and fall back to fixed guesses for a first start.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import METHODS, MethodNotApplicable
from unlearn_core.progress import Progress, quiet

FALLBACK_TRAIN_S = {"digits": 8.0, "shapes": 60.0}  # a first training on 2 CPU cores, default recipe
FALLBACK_TRAIN_OTHER_S = 300.0
FALLBACK_RUN_S = 8.0  # one method's run including its evaluation against retrain


@dataclass(frozen=True)
class Stage:
    """One step of the demo: `kind` is "model", "oracle" or "method"; `reuse` names a finished run (method
    stages) or says the model is stored; `seconds` is the estimate (0 when reused)."""

    kind: str
    name: str
    seconds: float
    reuse: str | None = None


@dataclass(frozen=True)
class DemoPlan:
    spec: ExperimentSpec
    forget: ForgetSpec
    stages: tuple[Stage, ...]
    skipped: tuple[dict, ...] = ()  # {"method", "reason"} refused before running

    @property
    def seconds(self) -> float:
        """Estimated wall time of the whole demo on this machine."""
        return sum(s.seconds for s in self.stages)

    @property
    def methods(self) -> list[str]:
        return [s.name for s in self.stages if s.kind == "method"]

    @property
    def reused(self) -> list[str]:
        return [s.name for s in self.stages if s.kind == "method" and s.reuse]

    def describe(self) -> str:
        """`about 40 s: train the model (8 s), ...` in one line, for the button's caption."""
        parts = []
        for s in self.stages:
            what = {"model": "the model", "oracle": "the retrain oracle"}.get(s.kind, s.name)
            parts.append(f"{what} (reused)" if s.reuse else f"{what} (~{s.seconds:.0f} s)")
        return f"about {format_seconds(self.seconds)} on this machine: " + ", ".join(parts)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return statistics.median(values) if values else None


def _train_estimate(lab: Lab, spec: ExperimentSpec) -> float:
    spec = spec.resolved()
    seen = [(m.get("meta") or {}) for m in lab.store.list_models()]
    times = [meta.get("train_seconds") for meta in seen
             if (meta.get("spec") or {}).get("dataset") == spec.dataset
             and (meta.get("spec") or {}).get("arch") == spec.arch]
    return _median([t for t in times if isinstance(t, int | float)]) or FALLBACK_TRAIN_S.get(
        spec.dataset, FALLBACK_TRAIN_OTHER_S)


def finished_default_run(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, method: str) -> str | None:
    """The newest finished run of `method` with its default parameters on this model and forget set."""
    impl = METHODS.get(method)
    defaults = impl.Config().to_dict()
    spec = spec.resolved()
    keys = {"base-" + spec.key, "base-" + spec.with_artifacts(impl.info.needs_artifacts).key}
    for row in lab.runs(status="ok"):
        if (row["method"] == method and row["experiment_key"] in keys and row["forget"] == forget.to_dict()
                and row.get("params") == defaults):
            return row["id"]
    return None


def plan_demo(lab: Lab, spec: ExperimentSpec, forget: ForgetSpec, methods: tuple[str, ...]) -> DemoPlan:
    """The stages of the demo with their estimates; methods not registered or refusing the scenario are
    skipped with their reason."""
    spec = spec.resolved()
    rows = lab.runs(status="ok", limit=5000)
    stages = []
    base_key = "base-" + spec.key
    trained = lab.has_model(base_key)
    train_s = _train_estimate(lab, spec)
    stages.append(Stage("model", f"{spec.arch} on {spec.dataset}", 0.0 if trained else train_s,
                        "stored" if trained else None))
    oracle_key = f"retrain-{base_key.split('-', 1)[1]}-{forget.key}"
    oracle_stored = lab.has_model(oracle_key)
    stages.append(Stage("oracle", "retrain oracle", 0.0 if oracle_stored else train_s,
                        "stored" if oracle_stored else None))
    skipped = []
    for name in methods:
        if name not in METHODS.names():
            skipped.append({"method": name, "reason": "not part of this build"})
            continue
        reason = lab.applicability(name, spec, forget)
        if reason:
            skipped.append({"method": name, "reason": reason})
            continue
        reuse = finished_default_run(lab, spec, forget, name)
        walls = [r["finished"] - r["created"] for r in rows if r["method"] == name and r["dataset"] == spec.dataset
                 and r["arch"] == spec.arch and r.get("finished") and r.get("created")]
        stages.append(Stage("method", name, 0.0 if reuse else (_median(walls) or FALLBACK_RUN_S), reuse))
    return DemoPlan(spec, forget, tuple(stages), tuple(skipped))


@dataclass
class DemoOutcome:
    run_ids: dict[str, str] = field(default_factory=dict)  # method -> run id (new or reused)
    reused: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # refused at run time, with the reason


def run_demo(lab: Lab, plan: DemoPlan, progress: Progress = quiet, stop: threading.Event | None = None,
             ) -> DemoOutcome:
    """Runs the plan's stages in order. Every report says `stage i of n: what · about T left`, where T is the
    remaining estimate scaled by how fast this machine has been so far; the bar moves with each stage's share
    of the estimated total (a reused stage takes none)."""
    total = max(plan.seconds, 1e-6)
    n = len(plan.stages)
    start = time.monotonic()
    outcome = DemoOutcome(skipped=list(plan.skipped))
    done_estimate = 0.0

    def reporter(i: int, stage: Stage, what: str):
        def report(fraction: float, message: str = "") -> None:
            estimate_done = done_estimate + stage.seconds * max(0.0, min(1.0, fraction))
            elapsed = time.monotonic() - start
            # the rest of the estimate, corrected by the pace measured so far (once there is something to measure)
            pace = elapsed / estimate_done if estimate_done > 0.5 and elapsed > 1.0 else 1.0
            left = (total - estimate_done) * pace
            detail = f" ({message})" if message and message != what else ""
            progress(min(0.99, estimate_done / total),
                     f"stage {i + 1} of {n}: {what}{detail} · about {format_seconds(left)} left")
        return report

    base = None
    for i, stage in enumerate(plan.stages):
        if stop is not None and stop.is_set():
            break
        if stage.kind == "model":
            report = reporter(i, stage, "loading the model" if stage.reuse else f"training {stage.name}")
            report(0.0)
            base = lab.base_model(plan.spec, report, stop)
        elif stage.kind == "oracle":
            report = reporter(i, stage, "loading the retrain oracle" if stage.reuse else
                              f"training the retrain oracle without {plan.forget.describe()}")
            report(0.0)
            lab.retrain_oracle(base, plan.forget, report, stop)
        elif stage.reuse:
            reporter(i, stage, f"{stage.name}: reusing run {stage.reuse}")(1.0)
            outcome.run_ids[stage.name] = stage.reuse
            outcome.reused.append(stage.name)
        else:
            report = reporter(i, stage, f"running {stage.name}")
            report(0.0)
            try:
                record = lab.run(plan.spec, plan.forget, stage.name, progress=lambda f, m, r=report: r(f, m),
                                 stop=stop)
            except MethodNotApplicable as exc:
                outcome.skipped.append({"method": stage.name, "reason": str(exc)})
            else:
                outcome.run_ids[stage.name] = record["run_id"]
        done_estimate += stage.seconds
    progress(1.0, f"done in {format_seconds(time.monotonic() - start)}")
    return outcome


__all__ = ["DemoOutcome", "DemoPlan", "Stage", "finished_default_run", "format_seconds", "plan_demo", "run_demo"]
