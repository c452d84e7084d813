"""Unlearning Lab dashboard: page config, navigation over pages/, and the sidebar every page shares.

Start it with `streamlit run app.py` (or `unlearn dashboard`). Long work runs in a background job runner
shared by all browser sessions; every stored run reloads from the workspace after a refresh or restart.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from pages._ui.common import experiment_label, experiment_spec, forget_spec

ROOT = Path(__file__).parent

st.set_page_config(page_title="Unlearning Lab", page_icon=":material/cleaning_services:", layout="wide",
                   initial_sidebar_state="expanded")
st.markdown(f"<style>{(ROOT / 'assets' / 'style.css').read_text()}</style>", unsafe_allow_html=True)
st.logo(str(ROOT / "assets" / "logo.svg"), size="large")
common.init_session()

PAGES = {
    "Set up": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/model.py", title="Model", icon=":material/neurology:"),
        st.Page("pages/forget_set.py", title="Forget set", icon=":material/target:"),
        st.Page("pages/unlearn.py", title="Unlearn", icon=":material/cleaning_services:"),
        st.Page("pages/sweeps.py", title="Sweeps", icon=":material/grid_view:"),
    ],
    "Results": [
        st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("pages/inside.py", title="Inside the methods", icon=":material/biotech:"),
        st.Page("pages/predictions.py", title="Predictions & attributions", icon=":material/image_search:"),
        st.Page("pages/privacy.py", title="Forget quality", icon=":material/shield:"),
        st.Page("pages/report.py", title="Report", icon=":material/description:"),
    ],
}

navigation = st.navigation(PAGES)
st.session_state[S.FRAMED] = True
if S.WANTED_PAGE in st.session_state:  # a deep link first served without this frame (see common.guarded)
    st.switch_page(st.session_state.pop(S.WANTED_PAGE), query_params=dict(st.query_params))
sidebar = st.sidebar.container()  # its place is fixed now; it is filled after the page ran, so it shows what
navigation.run()                  # the page just changed (not the previous run's state)

with sidebar:
    try:
        spec = experiment_spec()
        trained = common.base_is_trained(spec)
        st.markdown(f"<span class='ul-badge'>device: {common.device_name()}</span>", unsafe_allow_html=True)
        st.caption(f"Workspace: `{common.workspace()}`")
        status = (":material/check_circle: model trained" if trained
                  else ":material/radio_button_unchecked: model not trained yet")
        st.markdown(f"**Experiment:** {experiment_label(spec)}  \n{status}")
        st.markdown(f"**Forget set:** {forget_spec().describe()}")
        active = common.runner().active()
        if active:
            plural = "s" if len(active) > 1 else ""
            st.caption(f":material/pending: {len(active)} background job{plural} queued or running")
    except Exception as exc:  # the sidebar must never take the page down
        st.warning(f"Sidebar unavailable: {exc}")
common.save_session()
