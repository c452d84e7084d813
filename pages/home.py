"""Home: what machine unlearning is, the device in use, and a one-click demo that lands on Compare."""

from __future__ import annotations

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import get_method, list_methods

DEMO_METHODS = ("semu", "slug", "mnemonic", "partial_label_flip", "partial_gradient_ascent", "partial_amnesiac")
DEMO_FALLBACK = ("finetune", "gradient_ascent")  # shown only while no seed method is part of the build
DEMO_FORGET = ForgetSpec(classes=(3,))


def demo_plan(spec: ExperimentSpec, forget: ForgetSpec) -> tuple[list[str], list[dict]]:
    """The demo's methods that can run here, and those skipped with the reason."""
    registered = set(list_methods())
    chosen, skipped = [], []
    for name in DEMO_METHODS:
        if name not in registered:
            skipped.append({"method": name, "reason": "not part of this build yet"})
            continue
        reason = common.lab().applicability(name, spec, forget)
        if reason:
            skipped.append({"method": name, "reason": reason})
        else:
            chosen.append(name)
    if not chosen:
        chosen = [name for name in DEMO_FALLBACK if name in registered]
        skipped.append({"method": "seed methods", "reason": "none is available, so the demo runs the "
                        f"{' and '.join(chosen)} baselines instead"})
    return chosen, skipped


def start_demo() -> None:
    spec, forget = ExperimentSpec(), DEMO_FORGET
    common.set_experiment(spec)
    common.set_forget(forget)
    chosen, skipped = demo_plan(spec, forget)
    common.queue_reference(spec, forget)
    for name in chosen:
        common.queue_run(spec, forget, name)
    st.session_state[S.DEMO_SKIPPED] = skipped
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
        if st.button("▶ Run the demo", key=S.W_DEMO, type="primary"):
            start_demo()
            st.switch_page("pages/compare.py")
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
