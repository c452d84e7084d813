"""Sweeps: a grid of method parameters over seeds, run in parallel in the background; every cell is a stored run."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.device import usable_cores
from unlearn_core.methods import METHODS, list_methods
from unlearn_core.results import scenario_key
from unlearn_core.studies.executors import EXECUTORS
from unlearn_core.studies.sweep import (
    MethodGrid,
    SweepMonitor,
    SweepSpec,
    estimate_cost,
    parse_grid_arg,
    run_sweep,
    sweep_rows,
)
from unlearn_core.viz import sweeps as viz


@st.cache_resource(show_spinner=False)
def monitors() -> dict[str, SweepMonitor]:
    """Live state of the sweeps running in this server process, by sweep key (shared by all sessions)."""
    return {}


def grid_editor() -> list[MethodGrid]:
    """Methods to sweep and, per method, the parameters to vary with their values."""
    names = st.multiselect("Methods", list_methods(), default=["slug"], key=S.W_SWEEP_METHODS)
    grids = []
    for name in names:
        specs = {p.name: p for p in METHODS.get(name).Config.params()}
        with st.container(border=True):
            chosen = st.multiselect(f"**{name}**: parameters to vary (the others keep their defaults)",
                                    list(specs), key=S.sweep_params(name))
            grid = []
            for param in chosen:
                spec = specs[param]
                hint = f"choices: {', '.join(map(str, spec.choices))}" if spec.choices else (
                    f"range {spec.min}..{spec.max}" if spec.min is not None or spec.max is not None else "")
                text = st.text_input(f"{param} values", value=str(spec.default), key=S.sweep_values(name, param),
                                     help="comma-separated values, or log:LOW:HIGH:NUM for NUM log-spaced floats. "
                                          f"Default {spec.default}; {hint}. {spec.help}")
                grid.append(parse_grid_arg(name, f"{param}={text}"))
            grids.append(MethodGrid(name, tuple(sorted(grid))))
    return grids


def sweep_form() -> tuple[SweepSpec, str, int | None, str | None]:
    experiment, forget = common.experiment_spec().resolved(), common.forget_spec()
    left, middle, right = st.columns(3)
    epochs = left.number_input("Base-model epochs", min_value=1, max_value=1000, value=experiment.recipe.epochs,
                               key=S.W_SWEEP_EPOCHS, help="Training epochs of the base model and the retrain "
                                                          "oracles (the active experiment's by default).")
    seeds_text = middle.text_input("Seeds", value="0", key=S.W_SWEEP_SEEDS, help="comma-separated, e.g. 0,1,2")
    seed_base = right.checkbox("Seed the base model too", value=True, key=S.W_SWEEP_SEED_BASE,
                               help="On: seed s trains its own base model and oracle, so the spread covers training "
                                    "noise. Off: one base model; seeds vary only the method.")
    grids = grid_editor()
    left, middle, right = st.columns(3)
    choices = EXECUTORS[1:] + EXECUTORS[:1]  # local first: the default
    executor = left.radio("Executor", choices, key=S.W_SWEEP_EXECUTOR, format_func=lambda e: e,
                          captions=[common.EXECUTOR_HELP[e] for e in choices])
    workers = middle.number_input("Workers (0 = one per core or Ray CPU)", min_value=0, max_value=256, value=0,
                                  key=S.W_SWEEP_WORKERS)
    address = right.text_input("Ray address (empty: a local instance)", value="", key=S.W_SWEEP_ADDRESS,
                               disabled=executor != "ray", help="host:6379 or ray://host:10001")
    try:
        seeds = tuple(int(s) for s in seeds_text.split(",") if s.strip())
    except ValueError:
        raise UserInputError(f"seeds must be comma-separated integers, got {seeds_text!r}") from None
    spec = SweepSpec(replace(experiment, recipe=replace(experiment.recipe, epochs=int(epochs))), (forget,),
                     tuple(grids), seeds, seed_base=seed_base)
    return spec, executor, int(workers) or None, (address.strip() or None) if executor == "ray" else None


def start(spec: SweepSpec, executor: str, workers: int | None, address: str | None) -> None:
    monitor = SweepMonitor()
    monitors()[spec.key] = monitor

    def work(progress, stop) -> dict:
        result = run_sweep(spec, executor=executor, workers=workers, address=address, lab=common.lab(),
                           progress=progress, monitor=monitor, stop=stop, keep_ray=True)
        return {"sweep": result.key, "status": result.status, "executor": result.executor}

    job = common.submit("sweep", f"sweep of {len(spec.cells())} cells on {executor}", work)
    st.session_state[S.SWEEP_JOB] = {"job": job, "sweep": spec.key}


def _cancel(job_id: str) -> None:
    common.runner().cancel(job_id)


@st.fragment(run_every=1.0)
def live_panel() -> None:
    """Per-cell progress of this session's latest sweep, with cancel; reruns the page when it finishes."""
    latest = st.session_state.get(S.SWEEP_JOB)
    if not latest:
        return
    job = common.runner().get(latest["job"])
    monitor = monitors().get(latest["sweep"])
    if job is None or monitor is None:
        return
    with st.container(border=True):
        ex = monitor.executor
        where = f" on **{ex['name']}** ({ex.get('workers')} workers)" if ex else ""
        st.markdown(f"**Sweep {latest['sweep']}**{where}: {monitor.phase}")
        if job.status == "failed":
            st.error(job.error)
        cells = monitor.snapshot()
        if cells:
            counts = monitor.counts()
            st.caption(" · ".join(f"{n} {s}" for s, n in counts.items()))
            finished = sum(c.status not in ("queued", "running") for c in cells)
            st.progress(finished / len(cells), text=f"{finished}/{len(cells)} cells finished")
            for cell in [c for c in cells if c.status == "running"][:8]:
                st.progress(min(1.0, cell.progress), text=f"{cell.label}: {cell.message} {cell.worker}")
        if not job.done:
            st.button("Cancel sweep", key=S.W_SWEEP_CANCEL, on_click=_cancel, args=(job.id,),
                      disabled=job.stop.is_set())
    if job.done and st.session_state.get(S.SWEEP_SEEN) != job.id:
        st.session_state[S.SWEEP_SEEN] = job.id
        st.rerun(scope="app")


def results() -> None:
    sweeps = common.lab().sweeps()
    if not sweeps:
        st.info("No sweep yet: define a grid above and start it.")
        return
    st.subheader("Results")
    by_key = {s["key"]: s for s in sweeps}
    latest = (st.session_state.get(S.SWEEP_JOB) or {}).get("sweep")
    keys = list(by_key)
    index = keys.index(latest) if latest in keys else 0
    if latest in keys and st.session_state.get(S.SWEEP_SHOWN) != latest:
        # a keyed picker keeps its old choice; a sweep this session just started must replace it once
        st.session_state[S.W_SWEEP_PICK] = latest
        st.session_state[S.SWEEP_SHOWN] = latest

    def label(key: str) -> str:
        s = by_key[key]
        counts = s["meta"].get("counts") or {}
        return f"{key} · {s['status']} · " + (", ".join(f"{n} {k}" for k, n in counts.items()) or "running")

    key = st.selectbox("Sweep", keys, index=index, key=S.W_SWEEP_PICK, format_func=label)
    stored = by_key[key]
    spec = SweepSpec.from_dict(stored["spec"])
    ex = stored["meta"].get("executor") or {}
    seconds = stored["meta"].get("seconds")
    st.markdown(f"**Executor:** {ex.get('name', '?')} · {ex.get('workers', '?')} workers · threads per worker "
                f"{ex.get('threads_per_worker', '?')}" + (f" · {ex['address']}" if ex.get("address") else "")
                + (f" · {seconds:.1f} s" if isinstance(seconds, int | float) else ""))
    rows = sweep_rows(common.lab(), spec)
    table = viz.results_table(rows)
    event = st.dataframe(table, key=S.W_SWEEP_TABLE, hide_index=True, on_select="rerun", selection_mode="single-row",
                         column_config={"run": st.column_config.TextColumn("run id")})
    st.caption("Click a column header to sort; select a row, then inspect that cell's run on Compare beside the "
               "original model and the retrain oracle.")
    picked = event.selection.rows if event is not None else []
    row = rows[picked[0]] if picked else None
    if st.button("Inspect the selected cell on Compare", key=S.W_SWEEP_INSPECT,
                 disabled=row is None or row["status"] != "ok"):
        st.session_state[S.GROUP] = scenario_key(row["experiment_key"], row["forget_dict"])
        st.switch_page("pages/compare.py")
    st.plotly_chart(viz.pareto_scatter(rows), key="sweeps_pareto")
    st.caption(viz.HOW_TO_READ["pareto"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    method = st.selectbox("Method for parallel coordinates", methods, key=S.W_SWEEP_PARCOORDS_METHOD)
    st.plotly_chart(viz.parallel_coordinates(rows, method), key="sweeps_parcoords")
    st.caption(viz.HOW_TO_READ["parallel"])


def body() -> None:
    common.page_header(
        "Sweeps",
        "a grid of method parameters over seeds on the active model and forget set: every cell is one stored run, "
        "computed in parallel by a pool of local processes or by Ray.",
        "choose methods and the values to try; the number of cells and the estimated cost show before you start. "
        "Cells already in the workspace are reused, so an interrupted sweep resumes. The Pareto plot shows which "
        "settings forget like retrain without losing utility.",
    )
    st.markdown(f"**Forget set:** {common.forget_spec().describe()} · **Model:** "
                f"{common.experiment_label(common.experiment_spec())}")
    try:
        spec, executor, workers, address = sweep_form()
        cells = spec.cells()
        cost = estimate_cost(common.lab(), spec)
    except UserInputError as exc:
        st.error(str(exc))
        cells, cost = [], None
    if cost is not None:
        slots = workers or usable_cores()
        when = ("unknown: " + cost.basis) if cost.seconds is None else (
            f"about {cost.seconds:.0f} s of work, {cost.wall_seconds(slots):.0f} s on {slots} workers ({cost.basis})")
        st.markdown(f"**{cost.cells} cells** ({cost.done} already in the workspace, {cost.to_run} to run, "
                    f"{cost.models_to_train} base/oracle models to train) · estimated cost: {when}")
    running = [j for j in common.runner().active() if j.kind == "sweep"]
    if st.button(f"Start sweep of {len(cells)} cells", key=S.W_SWEEP_START, type="primary",
                 disabled=not cells or bool(running)):
        start(spec, executor, workers, address)
    if running:
        st.caption(":material/pending: a sweep is running; the next can start when it ends.")
    live_panel()
    results()


common.guarded(body)
