"""Concurrency: jobs from two sessions share one device queue and get the same, separate results as sequential
runs; two threads running methods on one Lab at once do too; the cached base model is never mutated."""

from __future__ import annotations

import threading

import torch

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.jobs import JobRunner

FORGET = ForgetSpec(classes=(3,))
RUNS = {"finetune": {"epochs": 1}, "gradient_ascent": {"epochs": 1}}


def _numbers(record: dict) -> dict:
    """The run's results without its wall-clock timings."""
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k != "seconds"}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip({"method": record["method"], "status": record["status"], "metrics": record["metrics"]})


def _run_together(targets: list) -> list:
    """Starts every target in its own thread at the same moment; returns their results in order."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = targets[i]()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


def test_concurrent_runs_match_sequential_and_leave_the_base_model_untouched(private_lab):
    spec = ExperimentSpec()
    base = private_lab.base_model(spec.with_artifacts(()))
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    sequential = {m: _numbers(private_lab.run(spec, FORGET, m, p)) for m, p in RUNS.items()}

    # two browser sessions: each submits from its own thread to the one shared runner, on the same device
    runner = JobRunner()

    def submit(method: str, owner: str):
        return lambda: runner.submit("unlearn", lambda progress, stop: private_lab.run(
            spec, FORGET, method, RUNS[method], progress=progress, stop=stop), device="cpu", owner=owner)

    job_ids = _run_together([submit("finetune", "session-a"), submit("gradient_ascent", "session-b")])
    jobs = [runner.wait(j, timeout=600) for j in job_ids]
    assert [j.status for j in jobs] == ["ok", "ok"], [j.error for j in jobs]
    first, second = sorted(jobs, key=lambda j: j.started)
    assert second.started >= first.finished  # one device queue: the second waited for the first
    assert [j.id for j in runner.jobs(owner="session-a")] == [job_ids[0]]  # each session sees its own job
    queued = {j.result["method"]: _numbers(j.result) for j in jobs}
    assert queued == sequential

    # no queue at all: two threads running methods on one Lab at the same time
    together = _run_together([lambda m=m, p=p: private_lab.run(spec, FORGET, m, p) for m, p in RUNS.items()])
    assert {r["method"]: _numbers(r) for r in together} == sequential
    assert len({r["run_id"] for r in together} | {j.result["run_id"] for j in jobs}) == 4

    after = private_lab.base_model(spec.with_artifacts(()))
    assert after is base  # the cached model itself, never a copy edited in place
    assert all(torch.equal(before[k], v) for k, v in after.model.state_dict().items())
    stored, _, _ = private_lab.store.load_model(base.key)
    assert all(torch.equal(before[k], v) for k, v in stored.items())
    runner.shutdown()
