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
    group = common.group_selector()
    if group is None:
        st.info("No runs yet. Press **Run the demo** on Home, or queue methods on the Unlearn page.")
        return
    view = common.group_view(group)
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
    st.plotly_chart(compare.forget_utility_scatter(view.entries, retrain), key="compare_scatter")
    st.caption(captions.TRADE_OFF)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(compare.gap_bars(view.entries), key="compare_gaps")
    with right:
        st.plotly_chart(compare.cost_bars(view.entries), key="compare_costs")
    class_names = common.dataset_for(view.reference).class_names
    st.plotly_chart(compare.per_class_heatmap(view.entries, class_names), key="compare_per_class")
    st.caption(captions.PER_CLASS)
    st.plotly_chart(compare.confusion_grid(view.entries, class_names), key="compare_confusion")


common.guarded(body)
