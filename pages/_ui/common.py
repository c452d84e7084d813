"""Shared dashboard plumbing: the process-wide Lab and job runner, session defaults, error guard, job panel,
and loading of stored runs grouped by scenario."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
import torch
from torch import nn

from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, ImageDataset
from unlearn_core.data.base import LOADING_PROGRESS
from unlearn_core.device import device_label
from unlearn_core.experiment import BaseModel, ExperimentSpec, Lab
from unlearn_core.jobs import JobFailed, JobRunner, error_message
from unlearn_core.metrics.evaluate import predict_probs
from unlearn_core.progress import Progress
from unlearn_core.results import IndexGroup, RunRecord, group_index_rows, group_records, scenario_key
from unlearn_core.store import Store, workspace_root
from unlearn_core.studies.demo import format_seconds
from unlearn_core.viz.style import how_to_read

log = logging.getLogger("unlearning_lab.dashboard")

DEFAULT_FORGET = ForgetSpec(classes=(3,))

# what each sweep executor is, for the pages that let the user pick one (Sweeps, U-LiRA on Forget quality)
EXECUTOR_HELP = {
    "local": "a pool of worker processes on this machine (one per core by default)",
    "ray": "Ray tasks: a local Ray instance started for you, or an existing cluster",
    "sequential": "one after another in the dashboard's own process",
}


# ---- process-wide objects (shared by every browser session) ---------------------------------------------
@st.cache_resource(show_spinner=False)
def _lab_for(root: str) -> Lab:
    return Lab(Store(root), device="auto")


def lab() -> Lab:
    """The one Lab of this process for the current workspace (UNLEARN_HOME)."""
    return _lab_for(str(workspace_root()))


@st.cache_resource(show_spinner=False)
def runner() -> JobRunner:
    """One job runner per process: every session queues on the same device worker. Its journal in the workspace
    brings the jobs a server restart interrupted back as "interrupted", each still shown to its own session."""
    return JobRunner(journal=workspace_root() / "jobs.json")


def workspace() -> str:
    """The workspace folder of this process's Lab (part of every cache key, so workspaces never mix)."""
    return str(lab().store.root)


def device_name() -> str:
    return device_label(lab().device)


# ---- session ---------------------------------------------------------------------------------------------
def init_session() -> None:
    """Session defaults; on a new browser session whose URL names an earlier one (?sid=...), that session's
    choices come back from the workspace: the forget set, the model, the scenario, and its jobs (so Cancel
    stays with their owner)."""
    if S.SESSION_ID not in st.session_state:
        asked = st.query_params.get(S.QUERY_SESSION)
        saved = lab().store.load_session(asked) if asked else None
        st.session_state[S.SESSION_ID] = asked if saved is not None else uuid.uuid4().hex
        for key, value in (saved or {}).items():
            if key in S.PERSISTED:
                st.session_state[key] = value
        st.session_state[S.SAVED] = saved or {}
    defaults = {
        S.EXPERIMENT: ExperimentSpec().to_dict(),
        S.FORGET: DEFAULT_FORGET.to_dict(),
        S.SUBMITTED: [],
        S.FINISHED_SEEN: 0,
        S.DEMO_SKIPPED: [],
        S.LASSO_IDS: [],
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    if st.query_params.get(S.QUERY_SESSION) != st.session_state[S.SESSION_ID]:
        st.query_params[S.QUERY_SESSION] = st.session_state[S.SESSION_ID]


def switch_page(page: str) -> None:
    """st.switch_page that keeps the session's query parameter (a plain switch clears it, and setting it again
    in the new page's run would send the browser back to the old page)."""
    st.switch_page(page, query_params={S.QUERY_SESSION: st.session_state[S.SESSION_ID]})


def save_session() -> None:
    """Writes this session's persisted choices to the workspace when they changed (called after each run)."""
    state = {key: st.session_state[key] for key in S.PERSISTED if key in st.session_state}
    if state != st.session_state.get(S.SAVED):
        try:
            lab().store.save_session(st.session_state[S.SESSION_ID], state)
        except (OSError, UserInputError) as exc:  # a read-only workspace costs the reload memory, not the page
            log.warning("session not saved: %s", exc)
            return
        st.session_state[S.SAVED] = state


def experiment_spec() -> ExperimentSpec:
    return ExperimentSpec.from_dict(st.session_state[S.EXPERIMENT])


def set_experiment(spec: ExperimentSpec) -> None:
    st.session_state[S.EXPERIMENT] = spec.resolved().to_dict()


def forget_spec() -> ForgetSpec:
    return ForgetSpec.from_dict(st.session_state[S.FORGET])


def set_forget(spec: ForgetSpec) -> None:
    st.session_state[S.FORGET] = spec.to_dict()


def base_key(spec: ExperimentSpec) -> str:
    return "base-" + spec.key


def base_is_trained(spec: ExperimentSpec) -> bool:
    return lab().has_model(base_key(spec))


def experiment_label(spec: ExperimentSpec) -> str:
    spec = spec.resolved()
    return f"{spec.dataset} · {spec.arch} · seed {spec.seed} · {spec.recipe.epochs} epochs"


# ---- pages -----------------------------------------------------------------------------------------------
def page_header(title: str, what: str, how: str) -> None:
    """The session's running work (a live banner), then the title, one line on what the page shows and one on
    how to read it. Every page starts here, so the banner is on every page (drawn inside the page: a fragment
    in app.py outside the page breaks Streamlit's element tree when the page changes)."""
    activity_banner()
    st.title(title)
    st.markdown(f"**What this shows:** {what}  \n**How to read it:** {how}")


def chart(fig: Any, key: str, **kwargs: Any) -> Any:
    """A Plotly figure with the "how to read" caption its builder attached (the report prints the same)."""
    event = st.plotly_chart(fig, key=key, **kwargs)
    caption = how_to_read(fig)
    if caption:
        st.caption(caption)
    return event


# Errors a page expects and explains in one line: bad input or a refused run (UserInputError, which includes the
# workspace's WorkspaceError), a file that cannot be read (a run deleted meanwhile, an unreadable dataset) and a
# device out of memory. Anything else is a bug: it propagates, so Streamlit shows it and tests fail on it.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (UserInputError, OSError, torch.cuda.OutOfMemoryError)


def show_repairs() -> None:
    """Once per session: what opening the workspace repaired (e.g. an index rebuilt from the run folders)."""
    if st.session_state.get(S.REPAIRS_SEEN):
        return
    st.session_state[S.REPAIRS_SEEN] = True
    for notice in lab().store.notices:
        st.info(f"Workspace repaired when the server started: {notice}", icon=":material/build:")


def guarded(body: Callable[[], None]) -> None:
    """Runs a page body; an expected error (EXPECTED_ERRORS) becomes a one-line message instead of a traceback."""
    init_session()  # a bookmarked page can run before app.py has set up this session
    if not st.session_state.get(S.FRAMED):
        # Right after a server start Streamlit serves a deep link (/compare) from its pages/ folder on its own,
        # without app.py: no navigation, no sidebar, no layout. Open it again through app.py instead.
        page = Path(inspect.stack()[1].filename).resolve()
        st.session_state[S.WANTED_PAGE] = f"pages/{page.name}"
        st.switch_page("app.py", query_params=dict(st.query_params))
    try:
        show_repairs()
        body()
    except UserInputError as exc:
        st.error(str(exc))
    except EXPECTED_ERRORS as exc:
        log.warning("page stopped: %s", exc)
        st.error(f"This page could not finish: {error_message(exc)}. Other pages still work.")


def submit(kind: str, title: str, fn: Callable[[Progress, Any], Any]) -> str:
    """Queues background work for this session on the Lab's device."""
    job_id = runner().submit(kind, fn, title=title, device=str(lab().device), owner=st.session_state[S.SESSION_ID])
    st.session_state[S.SUBMITTED] = [*st.session_state[S.SUBMITTED], job_id]
    return job_id


def _cancel(job_id: str) -> None:
    runner().cancel(job_id)


STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "ok": ":material/check_circle:",
                "failed": ":material/error:", "cancelled": ":material/cancel:",
                "interrupted": ":material/restart_alt:"}


@st.fragment(run_every=1.0)
def job_panel(recent: int = 4) -> None:
    """The device queue with progress bars and cancel buttons; refreshes itself every second and reruns the
    page when one of this session's jobs finishes, so new results appear without a click."""
    mine = set(st.session_state.get(S.SUBMITTED, []))
    session = st.session_state.get(S.SESSION_ID)
    jobs = runner().jobs()
    active = [j for j in jobs if not j.done]
    finished = [j for j in jobs if j.done and j.id in mine][-recent:]
    with st.container(border=True):
        st.markdown(f"**Background queue** on `{device_name()}` — {len(active)} waiting or running")
        if not active and not finished:
            st.caption("Nothing queued. Work you start (training, unlearning, the demo) appears here.")
        for job in active:
            who = "" if job.owner == session else " (another session)"
            left, right = st.columns([5, 1])
            left.progress(job.progress, text=f"{STATUS_ICONS[job.status]} {job.title}{who}: {job.message}")
            if job.owner == session:
                right.button("Cancel", key=S.cancel_button(job.id), on_click=_cancel, args=(job.id,),
                             disabled=job.stop.is_set())
        for job in reversed(finished):
            detail = job.error or f"finished in {job.elapsed:.1f} s"
            st.caption(f"{STATUS_ICONS[job.status]} {job.title}: {detail}")
    done = sum(1 for j in jobs if j.done and j.id in mine)
    if done != st.session_state.get(S.FINISHED_SEEN, 0):
        st.session_state[S.FINISHED_SEEN] = done
        st.rerun(scope="app")


def live_job(job_id: str, what: str) -> None:
    """A running job's own progress bar where its result will appear: it refreshes every second, and reruns the
    page once the job has finished, so the result replaces it without a click (a static line would show the
    progress of the moment the page was drawn, e.g. "starting (0%)", for the whole run)."""
    job = runner().get(job_id)
    if job is not None and not job.done:
        _live_job(job_id, what)


@st.fragment(run_every=1.0)
def _live_job(job_id: str, what: str) -> None:
    job = runner().get(job_id)
    box = st.container()  # always one block (see _live_banner)
    if job is None or job.done:
        st.rerun(scope="app")
    text = "waiting for the device" if job.status == "queued" else f"{job.message}{_time_left(job)}"
    box.progress(max(job.progress, 0.01), text=f":material/autorenew: {what}: {text} ({job.progress:.0%})")


INLINE_IMAGES = 2000  # work over at most this many images runs inline (digits); more goes to a background job


@st.cache_resource(show_spinner=False)
def _background_values() -> dict:
    """{(workspace, name): value} computed by background jobs (see background_value), kept for the process."""
    return {}


def background_value(name: str, images: int, compute: Callable[[], Any]) -> Any | None:
    """`compute()`'s value for `name` (which must name everything the value depends on, e.g. the model key).

    Work over at most INLINE_IMAGES images runs inline; larger work (a forward pass over 60,000 images) runs once
    as a background job, with a live bar here, and None is returned until it has finished, so the page never
    blocks on it; the value is then kept for the process. A failed job shows its reason and is retried on the
    next rerun."""
    values = _background_values()
    key = (workspace(), name)
    if key in values:
        return values[key]
    if images <= INLINE_IMAGES:
        values[key] = compute()
        return values[key]
    jobs = st.session_state.setdefault(S.BACKGROUND_JOBS, {})
    job = runner().get(jobs.get(name, ""))
    if job is not None and job.done and job.status != "ok":
        st.warning(f"{name}: {job.error or job.status}; trying again.", icon=":material/warning:")
        job = None
    if job is None:
        def work(progress: Progress, stop: Any) -> None:
            progress(0.0, f"{images:,} images")
            values[key] = compute()

        jobs[name] = submit("page", name, work)
        job = runner().get(jobs[name])
    if job.done:  # finished between the lookup and now
        return values.get(key)
    live_job(job.id, name)
    return None


def active_demo() -> Any:
    """The demo job now queued or running (anyone's: one demo at a time on the shared device), or None."""
    return next((j for j in runner().jobs() if j.kind == "demo" and not j.done), None)


def _time_left(job: Any) -> str:
    """The job's own estimate when it gives one (the demo does), else one extrapolated from its progress."""
    if "left" in job.message or job.status != "running":
        return ""
    if job.progress >= 0.05:
        return f" · about {format_seconds(job.elapsed * (1 - job.progress) / job.progress)} left"
    return ""


def activity_banner() -> None:
    """The session's queued and running jobs on top of every page: stage, progress and time left, from the
    first second (a queued job says how many jobs are ahead of it). It polls only while such a job exists: a
    polling fragment on the page being left races Streamlit's page switch (the old page's update lands in the
    new page's element tree)."""
    session = st.session_state.get(S.SESSION_ID)
    if any(j.owner == session for j in runner().active()):
        _live_banner()


@st.fragment(run_every=1.0)
def _live_banner() -> None:
    session = st.session_state.get(S.SESSION_ID)
    jobs = runner().jobs()
    active = [j for j in jobs if not j.done]
    mine = [j for j in active if j.owner == session]
    box = st.container()  # always one block: a fragment whose element count changes breaks the page's tree
    for job in mine:
        if job.status == "queued":
            ahead = sum(1 for j in active if j.status == "running" or (j.status == "queued" and j.created <
                                                                        job.created))
            text = f"{job.title}: waiting for the device ({ahead} job{'s' if ahead != 1 else ''} ahead)"
        else:
            text = f"{job.title}: {job.message}{_time_left(job)}"
        box.progress(max(job.progress, 0.01), text=f":material/autorenew: {text}")
    # no rerun from here: a tick of this fragment that belongs to the page being left would send the browser
    # back to it; results pages refresh themselves (refresh_on_new_results)


# ---- stored runs (the read model is unlearn_core.results; these add the dashboard's caching) ------------
Group = IndexGroup  # all stored runs of one scenario, as index rows (newest first)


def scenario_groups() -> list[Group]:
    """Stored runs grouped by (base model, forget set), most recently active first."""
    groups = group_index_rows(lab().runs())
    for group in groups:  # the experiment (dataset options, seed) names the scenario; index rows lack it
        group.experiment = run_record(group.runs[-1]["id"], group.runs[-1]["status"]).experiment or None
    return groups


def current_group_key(model_key: str | None = None) -> str:
    """The group of the active (or given stored) model and forget set (what the user just queued)."""
    return scenario_key(model_key or base_key(experiment_spec()), forget_spec().to_dict())


def refresh_on_new_results(finished: int) -> None:
    """Polls for newly finished runs while a job runs (see _refresh)."""
    if runner().active():
        _refresh(finished)


@st.fragment(run_every=2.0)
def _refresh(finished: int) -> None:
    """While any job runs, reruns the page as soon as a run has finished since the page was drawn (`finished`
    runs then), so results pages fill in method by method during the demo."""
    busy = bool(runner().active())
    was_busy = st.session_state.get(S.BANNER_SEEN, False)
    st.session_state[S.BANNER_SEEN] = busy
    if (busy or was_busy) and finished != len(lab().runs(status="ok", limit=100000)):  # one look after the end
        st.rerun(scope="app")


def group_selector(label: str = "Scenario") -> Group | None:
    """Select box over the stored scenarios; defaults to the active one, else the latest."""
    refresh_on_new_results(len(lab().runs(status="ok", limit=100000)))
    groups = scenario_groups()
    if not groups:
        return None
    keys = [g.key for g in groups]
    wanted = st.session_state.get(S.GROUP)
    if wanted not in keys:
        wanted = current_group_key() if current_group_key() in keys else keys[0]
        st.session_state[S.GROUP] = wanted
    by_key = {g.key: g for g in groups}
    # the widget mirrors GROUP, which is not a widget key: Streamlit drops a widget's state on a page that does
    # not draw it, and the choice must hold on every results page
    st.session_state[S.W_GROUP] = wanted
    chosen = st.selectbox(label, keys, key=S.W_GROUP, format_func=lambda k: by_key[k].label,
                          on_change=_choose_group)
    return by_key[chosen]


def _choose_group() -> None:
    st.session_state[S.GROUP] = st.session_state[S.W_GROUP]


@st.cache_data(show_spinner=False, max_entries=2000)
def _record(root: str, run_id: str, status: str) -> RunRecord:
    # `status` is part of the cache key: a run read while running is read again once it has finished
    return _lab_for(root).run_record(run_id)


def run_record(run_id: str, status: str = "ok") -> RunRecord:
    """The typed stored record of a run (cached once the run has finished; pass the index row's status), its
    verdicts re-derived against the retrain band as it is now (a band that finished after the run calibrates
    it; outside the cache, so the page sees the band as soon as it exists)."""
    return RunRecord.from_dict(lab().calibrated(_record(workspace(), run_id, status).to_dict()))


@dataclass
class GroupView:
    entries: list[dict]  # original, retrain, then every finished run (labels unique): Scenario.entries()
    problems: list[dict]  # failed / cancelled / interrupted runs with their reason
    running: list[dict]
    reference: RunRecord | None  # the newest finished record (holds original, retrain, forget summary)
    group: Group


def group_view(group: Group) -> GroupView:
    ok_rows = [r for r in reversed(group.runs) if r["status"] == "ok"]  # oldest first
    scenarios, _ = group_records(run_record(r["id"], r["status"]) for r in ok_rows)
    scenario = scenarios[0] if scenarios and scenarios[0].records else None
    if scenario is None:
        return GroupView([], group.problems(), group.running, None, group)
    return GroupView(scenario.entries(), group.problems(), group.running, scenario.reference, group)


def chosen_scenario(need_finished: bool = True) -> GroupView | None:
    """The results pages' scenario picker and the chosen scenario's view. None, after saying why, when there is
    nothing to show yet: no run at all (or only the demo's, still running), or, with `need_finished`, no finished
    run in the chosen scenario."""
    group = group_selector()
    if group is None:
        demo = active_demo()
        st.info(f"The demo is running ({demo.message}); each method's results appear here as soon as it finishes."
                if demo is not None else
                "No runs yet. Press **Run the demo** on Home, or queue methods on the Unlearn page.")
        return None
    view = group_view(group)
    if need_finished and view.reference is None:
        st.info("No finished run in this scenario yet; results appear here as soon as the first one finishes.")
        return None
    return view


# ---- models ----------------------------------------------------------------------------------------------
def base_for(record: RunRecord) -> BaseModel:
    return lab().base_for_record(record)


def retrain_for(record: RunRecord) -> BaseModel:
    return lab().oracle_for_record(record)


def dataset_for(record: RunRecord) -> ImageDataset:
    return lab().dataset_for_record(record)


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_model(root: str, run_id: str) -> nn.Module | None:
    return _lab_for(root).run_model(run_id)


def run_model(run_id: str) -> nn.Module | None:
    """The unlearned model of a stored run (None if its weights were not stored)."""
    return _run_model(workspace(), run_id)


@st.cache_data(show_spinner=False, max_entries=512)
def _diagnostics(root: str, run_id: str) -> dict:
    return _lab_for(root).run_diagnostics(run_id)


def run_diagnostics(run_id: str) -> dict:
    """What a stored run's method recorded (cached: a finished run's diagnostics never change)."""
    return _diagnostics(workspace(), run_id)


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, confidence) for any number of images (batched, without autograd)."""
    probs = predict_probs(model, x.to(lab().device))
    conf, pred = probs.max(1)
    return pred, conf


# ---- background work -------------------------------------------------------------------------------------
def queue_training(spec: ExperimentSpec) -> str:
    """Trains (or loads) the base model of `spec` in the background."""
    def work(progress: Progress, stop: Any) -> dict:
        LOADING_PROGRESS.set(progress)  # a first load of a large image folder reports its decoding
        base = lab().base_model(spec, progress, stop)
        return {"key": base.key, "test_acc": base.meta.get("test_acc")}

    return submit("train", f"train {spec.arch} on {spec.dataset}", work)


def queue_reference(spec: ExperimentSpec, forget: ForgetSpec) -> str:
    """Trains (or loads) the base model and the retrain oracle for this forget set."""
    def work(progress: Progress, stop: Any) -> str:
        base = lab().base_model(spec, lambda f, m: progress(0.7 * f, m), stop)
        oracle = lab().retrain_oracle(base, forget, lambda f, m: progress(0.7 + 0.3 * f, m), stop)
        return oracle.key

    return submit("train", f"original + retrain oracle ({forget.describe()})", work)


def queue_run(spec: ExperimentSpec, forget: ForgetSpec, method: str, params: dict | None = None,
              model_key: str | None = None) -> str:
    """Runs one method in the background (on a stored/imported model if `model_key` is given); the stored
    record is the result, a failure its reason."""
    def work(progress: Progress, stop: Any) -> dict:
        record = lab().run(spec, forget, method, params, progress=progress, stop=stop, model_key=model_key)
        if record["status"] == "failed":
            raise JobFailed(f"{method} failed: {record['error']}")
        return record

    return submit("unlearn", f"{method} · forget {forget.describe()}", work)


def forget_refusal(spec: ForgetSpec, dataset: ImageDataset) -> str | None:
    """Why no run can use this forget set (empty, everything, no retain data, out of range), or None."""
    from unlearn_core.data import select_forget

    try:
        select_forget(spec, dataset)
    except UserInputError as exc:
        return str(exc)
    return None


def forget_spec_indices(spec: ForgetSpec, dataset: ImageDataset) -> list[int]:
    """Training indices the spec selects ([] when the selection is empty or invalid)."""
    from unlearn_core.data import select_forget

    try:
        return select_forget(spec, dataset).tolist()
    except UserInputError:
        return []
