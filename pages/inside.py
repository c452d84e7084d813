"""Inside the methods: what each method computed on its way (its diagnostics, drawn through the panels declared
beside the method) and how much every run moved each layer."""

from __future__ import annotations

import streamlit as st

from pages._ui import common
from unlearn_core.methods import HISTORY_PANEL, METHODS, PanelContext, PanelFigure, list_methods, panel_views
from unlearn_core.viz import captions, inside
from unlearn_core.viz.style import how_to_read


def draw(figures: list[PanelFigure], key: str) -> None:
    """A panel's figures in order, each with its caption; a figure-less item is a line of text."""
    for i, item in enumerate(figures):
        if item.figure is not None:
            st.plotly_chart(item.figure, key=f"{key}_{i}")
        caption = item.caption or (how_to_read(item.figure) if item.figure is not None else None)
        if caption:
            st.caption(caption)


def method_sections(entries: list[dict], class_names: list[str], forgotten: tuple[int, ...] = ()) -> None:
    """One section per panel of every run, methods in registry order; then which methods have not run yet."""
    not_run = []
    for method in list_methods():
        runs = [e for e in entries if e["method"] == method]
        if not runs:
            if any(p is not HISTORY_PANEL for p in METHODS.get(method).panels):
                not_run.append(method)
            continue
        for entry in runs:
            ctx = PanelContext(entry["label"], tuple(class_names), entry.get("params") or {}, tuple(forgotten))
            for panel, figures in panel_views(method, common.run_diagnostics(entry["run_id"]), ctx):
                st.subheader(f"{entry['label']}: {panel.title}")
                st.caption(panel.caption)
                draw(figures, f"inside_{entry['run_id']}_{panel.key}")
    if not_run:
        st.info("No diagnostics yet from " + ", ".join(f"**{m}**" for m in not_run) + ": no finished run of them "
                "in this scenario. Queue them on the Unlearn page to see what they compute.")


@st.cache_data(show_spinner=False, max_entries=256)
def _layer_change(root: str, run_id: str) -> dict[str, float] | None:
    return common.lab().layer_change(run_id)


def weight_change_view(entries: list[dict]) -> None:
    st.subheader("Every method: how much each layer moved")
    st.caption(captions.LAYER_CHANGE)
    changes = {}
    for e in entries:
        if e.get("run_id"):
            change = _layer_change(common.workspace(), e["run_id"])
            if change is not None:
                changes[e["label"]] = change
    if not changes:
        st.info("No stored run weights in this scenario yet.")
        return
    st.plotly_chart(inside.layer_change_bars(changes), key="inside_layer_change")


def body() -> None:
    common.page_header(
        "Inside the methods",
        "the intermediate results each method computed (its diagnostics) and how far each run moved every layer.",
        "pick a scenario; each section explains its plot. Methods that have not run yet are listed after them.",
    )
    view = common.chosen_scenario()
    if view is None:
        return
    entries = [e for e in view.entries if e.get("run_id")]
    method_sections(entries, common.dataset_for(view.reference).class_names, view.group.forget.classes)
    weight_change_view(entries)


common.guarded(body)
