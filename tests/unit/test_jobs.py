"""The background job runner, without Streamlit."""

from __future__ import annotations

import threading

import pytest

from unlearn_core import UserInputError
from unlearn_core.jobs import JobFailed, JobRunner, error_message


@pytest.fixture
def runner():
    r = JobRunner()
    yield r
    r.shutdown()


def test_job_runs_and_reports_progress(runner):
    seen = []

    def work(progress, stop):
        progress(0.5, "half way")
        seen.append(runner.get(job_id).progress)
        return 42

    job_id = runner.submit("demo", work, title="answer")
    job = runner.wait(job_id, timeout=10)
    assert job.status == "ok"
    assert job.result == 42
    assert job.progress == 1.0
    assert seen == [0.5]
    assert job.error is None


def test_jobs_on_one_device_run_in_submission_order(runner):
    order = []
    gate = threading.Event()

    def first(progress, stop):
        gate.wait(5)
        order.append("first")

    def second(progress, stop):
        order.append("second")

    a = runner.submit("x", first)
    b = runner.submit("x", second)
    assert runner.get(b).status == "queued"
    gate.set()
    runner.wait(b, timeout=10)
    assert runner.get(a).status == "ok"
    assert order == ["first", "second"]


def test_errors_become_messages(runner):
    def bad_input(progress, stop):
        raise UserInputError("class 12 is out of range")

    def crash(progress, stop):
        raise RuntimeError("boom\nsecond line")

    a = runner.wait(runner.submit("x", bad_input), timeout=10)
    b = runner.wait(runner.submit("x", crash), timeout=10)
    assert (a.status, a.error) == ("failed", "class 12 is out of range")
    assert (b.status, b.error) == ("failed", "RuntimeError: boom")
    # the worker survives failures
    assert runner.wait(runner.submit("x", lambda p, s: "fine"), timeout=10).result == "fine"


def test_cancel_running_job_sets_the_stop_event(runner):
    started = threading.Event()

    def long_job(progress, stop):
        started.set()
        while not stop.is_set():
            stop.wait(0.01)
        return "stopped early"

    job_id = runner.submit("x", long_job)
    assert started.wait(5)
    assert runner.cancel(job_id)
    job = runner.wait(job_id, timeout=10)
    assert job.status == "cancelled"
    assert job.error == "cancelled by the user"
    assert not runner.cancel(job_id)  # already finished


def test_cancel_queued_job_never_runs_it(runner):
    gate = threading.Event()
    ran = []
    blocker = runner.submit("x", lambda p, s: gate.wait(5))
    queued = runner.submit("x", lambda p, s: ran.append(1))
    assert runner.cancel(queued)
    assert runner.get(queued).status == "cancelled"
    gate.set()
    runner.wait(blocker, timeout=10)
    after = runner.submit("x", lambda p, s: "after")
    runner.wait(after, timeout=10)
    assert ran == []


def test_devices_have_separate_workers(runner):
    gate = threading.Event()
    blocked = runner.submit("x", lambda p, s: gate.wait(5), device="cuda")
    free = runner.wait(runner.submit("x", lambda p, s: "cpu done", device="cpu"), timeout=10)
    assert free.status == "ok"
    assert runner.get(blocked).status == "running"
    gate.set()
    assert runner.wait(blocked, timeout=10).status == "ok"


def test_filters_and_active(runner):
    gate = threading.Event()
    a = runner.submit("train", lambda p, s: gate.wait(5), owner="s1")
    runner.submit("unlearn", lambda p, s: None, owner="s2")
    assert [j.id for j in runner.jobs(kind="train")] == [a]
    assert [j.kind for j in runner.jobs(owner="s2")] == ["unlearn"]
    assert len(runner.active()) == 2
    gate.set()


def test_error_message_of_empty_exception():
    assert error_message(KeyError()) == "KeyError"


def test_explained_failures_are_shown_verbatim():
    assert error_message(JobFailed("semu diverged: non-finite weights")) == "semu diverged: non-finite weights"


def test_a_restart_shows_the_jobs_it_interrupted_with_their_owner(tmp_path):
    """The journal: what was queued or running when the process stopped comes back as interrupted, owned by the
    session that queued it; finished jobs are not brought back; new ids never reuse an old one."""
    journal = tmp_path / "jobs.json"
    first = JobRunner(journal=journal)
    gate = threading.Event()
    done = first.submit("train", lambda p, s: 1, title="quick", owner="alice")
    first.wait(done, timeout=10)
    running = first.submit("unlearn", lambda p, s: gate.wait(30), title="semu · forget class 3", owner="alice")
    queued = first.submit("unlearn", lambda p, s: 2, title="slug · forget class 3", owner="bob")
    while first.get(running).status != "running":
        first.wait(running, timeout=0.05)

    second = JobRunner(journal=journal)  # what a server restart does (the first process's threads are gone)
    restored = {j.id: j for j in second.jobs()}
    assert set(restored) == {running, queued}
    assert restored[running].status == "interrupted" and restored[running].owner == "alice"
    assert restored[queued].owner == "bob" and "restarted" in restored[queued].error
    assert restored[running].done
    fresh = second.submit("train", lambda p, s: 3, title="after")
    assert fresh not in (done, running, queued)
    gate.set()
    first.shutdown()
    second.shutdown()
