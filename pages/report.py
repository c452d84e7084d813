"""Report: export stored runs as a self-contained HTML report, CSV and JSON; run and save reproducible presets.

Building a report and running a preset both go through the background job runner, so the page stays usable.
"""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError, presets
from unlearn_core.data import ForgetSpec, list_datasets
from unlearn_core.report import metrics_csv, report_html, report_json

# this page's session-state and widget keys (prefixed, so no other page can collide with them)
EXPORT_STATUSES = ("ok", "failed", "cancelled")


def preset_run_key(name: str) -> str:
    return f"report_preset_run_{name}"


def preset_delete_key(name: str) -> str:
    return f"report_preset_delete_{name}"


def run_label(row: dict) -> str:
    forget = ForgetSpec.from_dict(row["forget"]).describe()
    when = time.strftime("%m-%d %H:%M", time.localtime(row["created"]))
    scenario = f"{row['dataset']}/{row['arch']} · forget {forget}"
    return f"{row['method']} · {scenario} · {row['status']} · {when} · {row['id']}"


def default_runs(rows: list[dict]) -> list[str]:
    """The runs of the newest scenario (one base model and forget set), as the Compare page shows it."""
    if not rows:
        return []
    newest = rows[0]
    return [r["id"] for r in rows
            if r["experiment_key"] == newest["experiment_key"] and r["forget"] == newest["forget"]]


def queue_report(run_ids: list[str]) -> str:
    def work(progress: Any, stop: Any) -> dict:
        lab = common.lab()
        progress(0.1, "drawing the figures")
        page = report_html(lab, run_ids)
        progress(0.8, "writing CSV and JSON")
        return {"html": page, "csv": metrics_csv(lab, run_ids), "json": report_json(lab, run_ids),
                "runs": list(run_ids)}

    job_id = common.submit("report", f"report of {len(run_ids)} run{'s' if len(run_ids) != 1 else ''}", work)
    st.session_state[S.REPORT_JOB] = job_id
    return job_id


def export_section(rows: list[dict]) -> None:
    st.subheader("Export stored runs")
    st.caption("The HTML report opens in any browser without a network: figures, thumbnails and method cards are "
               "inside the file. The CSV holds every metric, the JSON every metric and full configuration.")
    by_id = {r["id"]: r for r in rows}
    if S.REPORT_RUNS not in st.session_state:
        st.session_state[S.REPORT_RUNS] = default_runs(rows)
    st.session_state[S.REPORT_RUNS] = [r for r in st.session_state[S.REPORT_RUNS] if r in by_id]
    chosen = st.multiselect("Runs in the report", list(by_id), key=S.REPORT_RUNS,
                            format_func=lambda i: run_label(by_id[i]),
                            help="Runs of several scenarios get one section each.")
    if st.button("Build report", key=S.W_REPORT_BUILD, type="primary", disabled=not chosen):
        queue_report(chosen)
    job = common.runner().get(st.session_state.get(S.REPORT_JOB, ""))
    if job is None:
        st.caption("Choose runs and press **Build report**; the downloads appear here when it is ready.")
    elif not job.done:
        common.live_job(job.id, "Building the report")
    elif job.status != "ok":
        st.error(f"The report could not be built: {job.error}")
    else:
        result = job.result
        stamp = time.strftime("%Y%m%d-%H%M", time.localtime(job.finished or time.time()))
        st.success(f"Report of {len(result['runs'])} run(s) ready.")
        left, middle, right = st.columns(3)
        left.download_button("Download HTML report", result["html"], f"unlearning-report-{stamp}.html",
                             "text/html", key="report_download_html", type="primary")
        middle.download_button("Download metrics (CSV)", result["csv"], f"unlearning-metrics-{stamp}.csv",
                               "text/csv", key="report_download_csv")
        right.download_button("Download metrics and configs (JSON)", result["json"],
                              f"unlearning-runs-{stamp}.json", "application/json", key="report_download_json")


def config_section(rows: list[dict]) -> None:
    st.subheader("Re-run one run")
    st.caption("A run's stored record is its configuration: save it as `run.json` and run "
               "`unlearn run --config run.json --device cpu`; on the same device the metrics come out identical "
               "(all but the run time).")
    finished = {r["id"]: r for r in rows if r["status"] in EXPORT_STATUSES}
    if not finished:
        st.info("No finished run yet.")
        return
    run_id = st.selectbox("Run", list(finished), key=S.W_REPORT_CONFIG_RUN,
                          format_func=lambda i: run_label(finished[i]))
    record = common.lab().run_record(run_id).to_dict()
    st.download_button("Download run.json", json.dumps(record, indent=1, sort_keys=True, default=str),
                       "run.json", "application/json", key="report_download_config")


def queue_preset(preset: presets.Preset) -> str:
    def work(progress: Any, stop: Any) -> dict:
        return presets.run_preset(common.lab(), preset, progress, stop)

    return common.submit("unlearn", f"preset: {preset.title}", work)


def preset_card(preset: presets.Preset) -> None:
    with st.container(border=True):
        tag = "saved" if preset.source == "user" else "built-in"
        st.markdown(f"**{preset.title}** · `{preset.name}` · {tag}")
        st.caption(preset.description)
        chosen = preset
        if preset.dataset_choice:
            datasets = list_datasets()
            current = preset.experiment.get("dataset")
            dataset = st.selectbox("Data", datasets, index=datasets.index(current) if current in datasets else 0,
                                   key=S.preset_dataset(preset.name))
            try:
                chosen = preset.on_dataset(dataset)
            except UserInputError as exc:
                st.warning(str(exc))
                return
        st.caption(f"Methods: {', '.join(chosen.methods)} · forget {chosen.forget_spec().describe()} · "
                   f"{chosen.experiment.get('dataset')}/{chosen.experiment.get('arch')} · seed "
                   f"{chosen.experiment.get('seed', 0)}")
        reason = chosen.unavailable()
        if reason:
            st.warning(f"Not available here: this preset {reason}.")
        left, right = st.columns([1, 1])
        if left.button("Run preset", key=preset_run_key(preset.name), disabled=reason is not None):
            queue_preset(chosen)
            st.toast(f"Queued {chosen.title}; the results appear on Compare.")
        if preset.source == "user" and right.button("Delete", key=preset_delete_key(preset.name)):
            presets.delete_preset(preset.name)
            st.rerun()


def save_section(rows: list[dict]) -> None:
    st.markdown("**Save runs as a preset**")
    st.caption("Repeats the runs chosen above (one scenario; their methods with the exact parameters they used) "
               "plus the retrain oracle. Saved presets are JSON files in the workspace's presets folder, also "
               "listed by `unlearn preset --list`.")
    chosen = [r for r in st.session_state.get(S.REPORT_RUNS, []) if r in {row["id"] for row in rows}]
    left, right = st.columns(2)
    name = left.text_input("Name (lower-case letters, digits, - or _)", key=S.W_PRESET_NAME)
    title = right.text_input("Title (optional)", key=S.W_PRESET_TITLE)
    if st.button("Save as preset", key=S.W_PRESET_SAVE, disabled=not (chosen and name)):
        preset = presets.preset_from_runs(common.lab(), chosen, name.strip(), title.strip() or None)
        path = presets.save_preset(preset)
        st.success(f"Saved preset **{preset.name}** ({path.name}).")


def presets_section(rows: list[dict]) -> None:
    st.subheader("Presets")
    st.caption("Reproducible scenarios: the same preset with the same seed gives the same numbers on the same "
               "device. They run in the background queue; the runs appear on Compare and can be exported above.")
    for problem in presets.user_presets()[1]:
        st.warning(f"Skipped a preset file that could not be read: {problem}")
    columns = st.columns(2)
    for i, preset in enumerate(presets.all_presets()):
        with columns[i % 2]:
            preset_card(preset)
    if rows:
        save_section(rows)


def body() -> None:
    common.page_header(
        "Report",
        "exports of stored runs for people who do not use the dashboard (HTML report, CSV, JSON), and presets "
        "that repeat a scenario exactly.",
        "pick runs, build the report, download it; or start a preset and find its runs on Compare.",
    )
    common.job_panel()
    rows = [r for r in common.lab().runs() if r["status"] in EXPORT_STATUSES]
    if rows:
        export_section(rows)
        config_section(rows)
    else:
        st.info("No stored runs yet. Run a preset below, or the demo on Home, and come back to export them.")
    presets_section(rows)


common.guarded(body)
