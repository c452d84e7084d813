"""Compare: every run of one scenario beside the original model and the retrain oracle."""

from __future__ import annotations

import streamlit as st

from pages._ui import band as band_ui
from pages._ui import common
from pages._ui import state as S
from unlearn_core.viz import captions, compare
from unlearn_core.viz import verdict as verdict_viz


def body() -> None:
    common.page_header(
        "Compare",
        "every finished run of one scenario (same model, same forget set) next to the original model and the "
        "retrain oracle.",
        "the closer a run is to **retrain**, the better it unlearned. Cells are coloured green (close to retrain, "
        "or best for run time and average gap) to red (far / worst). Headers: ↑ higher is better, "
        "↓ lower is better, *closer to retrain* where retrain's value is the target. Each verdict is judged "
        "against a band of independent retrains, signal by signal.",
    )
    common.job_panel()
    for skipped in st.session_state.get(S.DEMO_SKIPPED, []):
        st.caption(f"Demo skipped **{skipped['method']}**: {skipped['reason']}")
    view = common.chosen_scenario(need_finished=False)
    if view is None:
        return
    group = view.group
    if view.running:
        st.caption(f":material/autorenew: {len(view.running)} run(s) of this scenario still running: "
                   + ", ".join(r["method"] for r in view.running))
    if not view.entries:
        st.info("No finished run in this scenario yet; results appear here as soon as the first one finishes.")
    else:
        summary = view.reference.forget_summary
        st.markdown(f"**Forget set:** {summary.get('description', group.forget.describe())} — "
                    f"{summary.get('forget_size', '?')} training images forgotten, "
                    f"{summary.get('retain_size', '?')} kept · scenario *{summary.get('scenario', '')}*")
        if group.forget.scenario == "random":
            st.markdown(
                "<div class='ul-note'>On random forgetting the original model is often already close to retrain: "
                "when a model generalises well (train and test accuracy both near 99% on digits) it has memorised "
                "little about individual images, so there is little to forget. Differences between methods are "
                "small here; class forgetting, or a dataset the model memorises, separates them better.</div>",
                unsafe_allow_html=True)
        st.subheader("Metrics")
        st.table(compare.styled_table(view.entries))
        st.caption(captions.METRICS_TABLE)
        st.subheader("Verdicts")
        band_ui.band_panel(view.reference, "compare")
        st.table(verdict_viz.styled_verdict_summary(view.entries))
        st.caption(captions.VERDICT_SUMMARY)
    if view.problems:
        st.subheader("Runs that did not finish")
        for p in view.problems:
            st.warning(f"**{p['method']}** ({p['status']}): {p['reason']}")
    if not view.entries:
        return
    retrain = view.reference.retrain
    runs = [e for e in view.entries if e["label"] not in ("original", "retrain")]
    for entry in runs:
        for note in entry.get("notes") or []:
            st.caption(f"**{entry['label']}**: {note}")
    event = common.chart(compare.forget_utility_scatter(view.entries, retrain), key="compare_scatter",
                         on_select="rerun", selection_mode="points")
    open_clicked_run(event, runs)
    left, right = st.columns(2)
    with left:
        common.chart(compare.gap_bars(view.entries), key="compare_gaps")
    with right:
        common.chart(compare.cost_bars(view.entries), key="compare_costs")
    class_names = common.dataset_for(view.reference).class_names
    common.chart(compare.per_class_heatmap(view.entries, class_names, group.forget.classes), key="compare_per_class")
    common.chart(compare.confusion_grid(view.entries, class_names), key="compare_confusion")


def open_clicked_run(event: dict | None, runs: list[dict]) -> None:
    """A click on a plotted run shows its parameters and opens it on Forget quality."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    by_id = {e["run_id"]: e for e in runs}
    clicked = [by_id[p["customdata"]] for p in points if p.get("customdata") in by_id]
    if not clicked:
        st.caption("Click a point to see that run's parameters and open it on Forget quality.")
        return
    entry = clicked[0]
    with st.container(border=True):
        st.markdown(f"**{entry['label']}** · run `{entry['run_id']}`")
        st.caption(", ".join(f"{k}={v}" for k, v in sorted((entry.get("params") or {}).items())) or "no parameters")
        if st.button("Open this run on Forget quality", key=S.W_OPEN_RUN):
            st.session_state[S.W_PRIVACY_RUN] = entry["run_id"]
            common.switch_page("pages/privacy.py")


common.guarded(body)
