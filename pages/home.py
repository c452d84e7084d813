"""Home: what machine unlearning is, the device in use, and a one-click demo that lands on Compare."""

from __future__ import annotations

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import get_method, list_methods
from unlearn_core.studies.demo import DemoPlan, plan_demo, run_demo

# partial_amnesiac is not in the demo: it refuses to forget a whole class by design (the class sits in nearly
# every recorded training step, so undoing those steps would undo training itself); the note below says so
DEMO_METHODS = ("semu", "slug", "mnemonic", "partial_label_flip", "partial_gradient_ascent")
DEMO_LEFT_OUT = {"partial_amnesiac": "left out of the demo: it refuses to forget a whole class by design (the class "
                                     "sits in nearly every recorded training step); try it on hand-picked images"}
DEMO_FALLBACK = ("finetune", "gradient_ascent")  # shown only while no seed method is part of the build
DEMO_FORGET = ForgetSpec(classes=(3,))


def demo_plan() -> DemoPlan:
    """The demo's stages on this workspace (what is reused, what runs, the estimate), and what it skips."""
    spec = ExperimentSpec()
    registered = set(list_methods())
    methods = tuple(m for m in DEMO_METHODS if m in registered) or tuple(m for m in DEMO_FALLBACK
                                                                            if m in registered)
    return plan_demo(common.lab(), spec, DEMO_FORGET, methods)


def start_demo(plan: DemoPlan) -> None:
    """Queues the demo as one background job (its stages report progress and time left on every page)."""
    common.set_experiment(plan.spec)
    common.set_forget(plan.forget)
    left_out = [{"method": m, "reason": r} for m, r in DEMO_LEFT_OUT.items() if m in set(list_methods())]
    st.session_state[S.DEMO_SKIPPED] = [*left_out, *plan.skipped]

    def work(progress, stop) -> dict:
        outcome = run_demo(common.lab(), plan, progress, stop)
        return {"runs": outcome.run_ids, "reused": outcome.reused, "skipped": outcome.skipped}

    common.submit("demo", f"demo: forget class 3 with {len(plan.methods)} methods", work)
    st.session_state[S.GROUP] = common.current_group_key()


def body() -> None:
    common.page_header(
        "Unlearning Lab",
        "a workbench for making a trained image classifier forget part of its training data, and for checking "
        "how well it forgot.",
        "start with the demo, or go through Model → Forget set → Unlearn → Compare in the sidebar.",
    )
    st.markdown(
        "<div class='ul-lead'><b>Machine unlearning</b> removes the influence of some training images (a whole "
        "class, a few chosen images, a random share) from a model <i>without</i> training it again from scratch. "
        "The gold standard is the <b>retrain oracle</b>: the same recipe trained only on the images that are kept. "
        "A good unlearning method ends up close to the oracle — it forgets what the oracle never saw, keeps "
        "what the oracle knows, and costs far less than retraining.</div>",
        unsafe_allow_html=True,
    )
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Run the demo")
        seeds = [n for n in DEMO_METHODS if n in set(list_methods())]
        st.markdown(
            "Trains (or reuses) a small CNN on the 8×8 **digits** data, forgets **class 3** with "
            + (", ".join(f"`{n}`" for n in seeds) if seeds else "the available methods")
            + ", trains the retrain oracle, and opens **Compare** while the runs finish in the background."
        )
        running = common.active_demo()
        plan = demo_plan()
        if running:
            st.info(f"The demo is running: {running.message}. Its progress shows on top of every page.")
        elif plan.methods and len(plan.reused) == len(plan.methods):
            st.caption("Every demo run is already stored: pressing the button reuses them and opens Compare.")
        else:
            st.caption(f"Estimate: {plan.describe()}.")
        if st.button("▶ Run the demo", key=S.W_DEMO, type="primary", disabled=running is not None):
            start_demo(plan)
            common.switch_page("pages/compare.py")
    with right:
        st.subheader("This machine")
        st.markdown(f"<span class='ul-badge'>device: {common.device_name()}</span>", unsafe_allow_html=True)
        runs = common.lab().runs(limit=100000)
        models = common.lab().models()
        st.metric("Stored runs", len(runs))
        st.caption(f"{len(models)} stored models · workspace `{common.workspace()}` "
                   "(set UNLEARN_HOME to use another folder)")
    st.subheader("Methods in this build")
    columns = st.columns(2)
    for i, (family, title) in enumerate((("seed", "Seed methods (the papers this lab is built around)"),
                                         ("baseline", "Baselines and the reference"))):
        names = list_methods(family) + (list_methods("oracle") if family == "baseline" else [])
        if names:
            columns[i].markdown(f"**{title}**\n\n" + "\n".join(f"- `{n}`: {get_method(n).info.summary}"
                                                                 for n in names))
    common.job_panel()


common.guarded(body)
