"""The read model: stored runs as typed records, grouped into scenarios, shared by every face.

The write side (`Lab.run`) stores each run as the dict of design.md section 5. Everything that reads runs back
(the dashboard pages, the HTML report, the CLI, the probes) goes through this module, so a scenario is grouped,
labelled and referenced the same way everywhere:

- `RunRecord` is one stored run, parsed once from its dict (`RunRecord.from_dict`); `raw` keeps the dict itself
  for exports and re-runs (`unlearn run --config` accepts it).
- `Scenario` is every run of one base model and one forget set, with the original model's and the retrain
  oracle's metrics as references and `entries()`, the rows every table and figure draws.
- `group_records` groups records into scenarios in the order given; `group_index_rows` groups the store's
  index rows (cheap: no result file is read) for selectors.

Entries are plain dicts (the viz builders take them): {"label", "method", "metrics"} for every row, plus
{"run_id", "record", "params", "notes", "title"} for a stored run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from unlearn_core.data import ForgetSpec
from unlearn_core.labels import run_labels, scenario_label

PROBLEM_STATUSES = ("failed", "cancelled", "interrupted", "missing")  # missing: its folder was deleted


def scenario_key(experiment_key: str | None, forget: Mapping[str, Any]) -> str:
    """The key two runs share exactly when they started from the same base model and forget set."""
    return f"{experiment_key}|{json.dumps(dict(forget), sort_keys=True)}"


@dataclass(frozen=True)
class RunRecord:
    """One stored run (result.json), typed. A run that never stored its configuration (interrupted, still
    running) has only `run_id`, `status` and `error`; `has_config` says which kind this is."""

    run_id: str
    status: str
    method: str = ""
    title: str = ""
    family: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    device: str = ""
    experiment: Mapping[str, Any] = field(default_factory=dict)
    experiment_key: str | None = None
    retrain_key: str | None = None
    forget: Mapping[str, Any] = field(default_factory=dict)
    forget_summary: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    created: str = ""
    original: Mapping[str, Any] | None = None
    retrain: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] | None = None
    seconds: float | None = None
    error: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """Parses a stored run dict (full or stub); unknown keys stay available in `raw`."""
        seed = data.get("seed")
        return cls(
            run_id=str(data.get("run_id") or ""), status=str(data.get("status") or "running"),
            method=str(data.get("method") or ""), title=str(data.get("title") or ""),
            family=str(data.get("family") or ""), params=dict(data.get("params") or {}),
            seed=None if seed is None else int(seed), device=str(data.get("device") or ""),
            experiment=dict(data.get("experiment") or {}), experiment_key=data.get("experiment_key"),
            retrain_key=data.get("retrain_key"), forget=dict(data.get("forget") or {}),
            forget_summary=dict(data.get("forget_summary") or {}), notes=tuple(data.get("notes") or ()),
            created=str(data.get("created") or ""), original=data.get("original"), retrain=data.get("retrain"),
            metrics=data.get("metrics"), seconds=data.get("seconds"), error=data.get("error"), raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The stored dict (what `unlearn run --config` and the JSON export take)."""
        return dict(self.raw)

    @property
    def has_config(self) -> bool:
        """Whether the run stored its configuration and references (every run that got past its checks)."""
        return bool(self.experiment) and self.original is not None

    @property
    def finished(self) -> bool:
        """Finished with metrics (status ok)."""
        return self.status == "ok" and bool(self.metrics)

    @property
    def scenario_key(self) -> str:
        return scenario_key(self.experiment_key, self.forget)

    def forget_spec(self) -> ForgetSpec:
        return ForgetSpec.from_dict(dict(self.forget))


@dataclass
class Scenario:
    """Runs sharing one base model and one forget set, with the original and retrain references.

    `records` are the finished runs in the order given (the report's order, or oldest first on the pages);
    `problems` the failed, cancelled and interrupted ones; `running` those still running (index rows or stubs).
    The references come from the last finished record (the newest on the pages, which list oldest first), else
    from the first record that has them; they differ only if the reference cache was rebuilt between runs."""

    key: str
    experiment_key: str | None
    experiment: Mapping[str, Any]
    forget: Mapping[str, Any]
    forget_summary: Mapping[str, Any] = field(default_factory=dict)
    original: Mapping[str, Any] = field(default_factory=dict)
    retrain: Mapping[str, Any] = field(default_factory=dict)
    records: list[RunRecord] = field(default_factory=list)
    problems: list[RunRecord] = field(default_factory=list)

    @property
    def title(self) -> str:
        return scenario_label(self.experiment, self.forget, self.experiment_key)

    def forget_spec(self) -> ForgetSpec:
        return ForgetSpec.from_dict(dict(self.forget))

    @property
    def reference(self) -> RunRecord | None:
        """The record the references are read from (the last finished run), None without a finished run."""
        return self.records[-1] if self.records else None

    def entries(self) -> list[dict[str, Any]]:
        """original, retrain, then each finished run (a stored retrain run is the reference row itself, so it is
        not repeated), named by unlearn_core.labels: a variant by what differs from its method's defaults
        (`semu (tau=0.99)`), identical runs numbered by creation time (`slug #2`), the same on every page and in
        the report."""
        out: list[dict[str, Any]] = [{"label": "original", "method": "original", "metrics": dict(self.original)},
                                     {"label": "retrain", "method": "retrain", "metrics": dict(self.retrain)}]
        runs = [rec for rec in self.records if rec.method != "retrain"]
        labels = run_labels({"run_id": r.run_id, "method": r.method, "params": r.params, "created": r.created}
                            for r in runs)
        for rec in runs:
            label = labels[rec.run_id]
            out.append({"label": label, "method": rec.method, "metrics": rec.metrics, "run_id": rec.run_id,
                        "record": rec, "params": dict(rec.params), "notes": list(rec.notes), "title": rec.title})
        return out

    def methods(self) -> list[str]:
        """Every method of the scenario's runs, finished or not, first appearance first."""
        return list(dict.fromkeys([r.method for r in self.records] + [p.method for p in self.problems]))


def group_records(records: Iterable[RunRecord]) -> tuple[list[Scenario], list[RunRecord]]:
    """(scenarios in order of first appearance, records without a stored configuration)."""
    scenarios: dict[str, Scenario] = {}
    orphans: list[RunRecord] = []
    for rec in records:
        if not rec.has_config:
            orphans.append(rec)
            continue
        scenario = scenarios.get(rec.scenario_key)
        if scenario is None:
            scenario = scenarios[rec.scenario_key] = Scenario(
                rec.scenario_key, rec.experiment_key, rec.experiment, rec.forget, rec.forget_summary,
                rec.original or {}, rec.retrain or {})
        if rec.finished:
            scenario.records.append(rec)
        else:
            scenario.problems.append(rec)
    for scenario in scenarios.values():
        newest = scenario.reference
        if newest is not None and newest.original is not None:
            scenario.original, scenario.retrain = newest.original, newest.retrain or {}
    return list(scenarios.values()), orphans


@dataclass
class IndexGroup:
    """The index rows (Store.list_runs) of one scenario, newest first: enough to list and label scenarios
    without reading any result file."""

    key: str
    experiment_key: str | None
    forget: ForgetSpec
    dataset: str
    arch: str
    runs: list[dict] = field(default_factory=list)
    experiment: Mapping[str, Any] | None = None  # from a run record, when the caller read one (index rows lack it)

    @property
    def label(self) -> str:
        ok = sum(r["status"] == "ok" for r in self.runs)
        when = time.strftime("%H:%M", time.localtime(self.runs[0]["created"])) if self.runs else ""
        experiment = self.experiment or {"dataset": self.dataset, "arch": self.arch}
        # a scenario only a sweep or a probe filled (its runs are all sweep cells) says so
        origin = " from a sweep or probe" if self.runs and all(r["id"].startswith("cell-") for r in self.runs) else ""
        return (f"{scenario_label(experiment, self.forget, self.experiment_key)} — {ok} finished run"
                f"{'s' if ok != 1 else ''}{origin} (latest {when})")

    @property
    def running(self) -> list[dict]:
        return [r for r in self.runs if r["status"] == "running"]

    def problems(self) -> list[dict]:
        """{"method", "status", "reason", "run_id"} of every run that did not finish."""
        return [{"method": r["method"], "status": r["status"], "reason": r.get("error") or "no reason recorded",
                 "run_id": r["id"]} for r in self.runs if r["status"] in PROBLEM_STATUSES]


def group_index_rows(rows: Iterable[dict]) -> list[IndexGroup]:
    """Index rows grouped by scenario, in the rows' order (the store lists newest first). The runs of a retrain
    band's retrains (studies/band.py) and of U-LiRA's shadow pairs (studies/ulira.py) are left out: they calibrate
    the verdicts or feed the attack (their panels show them), they are not methods to compare."""
    groups: dict[str, IndexGroup] = {}
    for row in rows:
        summary = row.get("summary") or {}
        if summary.get("retrain_seed") is not None or summary.get("shadow_pair") is not None:
            continue
        key = scenario_key(row["experiment_key"], row["forget"])
        if key not in groups:
            groups[key] = IndexGroup(key, row["experiment_key"], ForgetSpec.from_dict(row["forget"]),
                                     row["dataset"], row["arch"])
        groups[key].runs.append(row)
    return list(groups.values())


__all__ = ["IndexGroup", "RunRecord", "Scenario", "group_index_rows", "group_records", "scenario_key"]
