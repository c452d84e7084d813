"""Unlearn: choose methods, set their parameters, queue the runs; results are stored for Compare."""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._ui import common
from pages._ui import state as S
from unlearn_core.data import ForgetSpec
from unlearn_core.methods import METHODS, list_methods
from unlearn_core.methods.base import ParamSpec

FAMILIES = (("seed", "Seed methods", True), ("baseline", "Baselines", False), ("oracle", "Reference", False))


def param_widget(method: str, spec: ParamSpec) -> tuple[Any, str | None]:
    """A form field generated from the method's typed config, and why its value is refused (None if it is not).

    Number fields take any number: a value outside the parameter's range stays in the field with the reason
    under it (a clamping widget would keep the old value behind a tooltip and run something else).
    """
    key = S.method_param(method, spec.name)
    label, help_text = spec.name, spec.help_text
    if spec.choices is not None:
        choices = list(spec.choices)
        value = st.selectbox(label, choices, index=choices.index(spec.default), key=key, help=help_text)
    elif spec.type is bool:
        value = st.checkbox(label, value=bool(spec.default), key=key, help=help_text)
    elif spec.type is int:
        value = int(st.number_input(label, value=int(spec.default), step=1, key=key, help=help_text))
    elif spec.type is float:
        value = float(st.number_input(label, value=float(spec.default), format="%g",
                                      step=None if spec.log else 0.01, key=key, help=help_text))
    else:
        value = st.text_input(label, value=str(spec.default), key=key, help=help_text)
    problem = spec.check(value)
    if problem:
        st.error(problem, icon=":material/error:")
    return value, problem


def method_block(name: str, reason: str | None) -> tuple[dict | None, list[str]]:
    """Checkbox, description and (when chosen) the parameter form of one method; returns the chosen params
    (None when not chosen) and the refusals of the values typed into its form."""
    cls = METHODS.get(name)
    info = cls.info
    use = st.checkbox(f"**{name}** — {info.title}", key=S.method_checkbox(name), disabled=reason is not None)
    st.caption(f"{info.summary}  \n_{info.paper}_" + (f"  \n:material/warning: {reason}" if reason else ""))
    if info.inferred:
        st.caption(f"Our reconstruction: {info.inferred}")
    if info.known_limits:
        st.caption(f":material/report: Where its defaults fail: {info.known_limits}")
    if not use or reason:
        return None, []
    params, problems = {}, []
    specs = cls.Config.params()
    columns = st.columns(min(4, max(1, len(specs))))
    for i, spec in enumerate(specs):
        with columns[i % len(columns)]:
            value, problem = param_widget(name, spec)
            if problem:
                problems.append(f"{name}: {problem}")
            elif value != spec.default:
                params[spec.name] = value
    return params, problems


def body() -> None:
    common.page_header(
        "Unlearn",
        "every registered unlearning method, its paper, what it needs, and a form for its parameters.",
        "tick methods, adjust parameters if you like (each field's help gives the paper's or official code's default "
        "beside ours, and why ours differs where it does), and queue them: they run one "
        "after another in the background and appear on Compare when done.",
    )
    spec, forget = common.experiment_spec(), common.forget_spec()
    model_key = None
    imported = st.session_state.get(S.IMPORTED_KEY)
    if imported and common.lab().has_model(imported):
        trained_label = f"the model trained here ({common.experiment_label(spec)})"
        options = ("trained", imported)
        # TARGET_MODEL (saved with the session) holds the choice; the radio mirrors it, so a reload keeps it
        st.session_state[S.W_TARGET_MODEL] = st.session_state.get(S.TARGET_MODEL) if st.session_state.get(
            S.TARGET_MODEL) in options else "trained"
        choice = st.radio("Model to unlearn", options, key=S.W_TARGET_MODEL, horizontal=True,
                          format_func=lambda o: trained_label if o == "trained" else f"the imported checkpoint {o}",
                          on_change=lambda: st.session_state.update({S.TARGET_MODEL: st.session_state[
                              S.W_TARGET_MODEL]}),
                          help="An imported checkpoint has no training artifacts (no mnemonic codes, no recorded "
                               "updates); its retrain oracle uses this lab's default recipe.")
        if choice != "trained":
            model_key = imported
            spec = common.lab().stored_model(imported).spec
    st.markdown(f"**Model:** {model_key or common.experiment_label(spec)} · **Forget set:** {forget.describe()} "
                f"(scenario *{forget.scenario}*)")
    refusal = common.forget_refusal(forget, common.lab().dataset(spec))
    if refusal:  # refused before any method is offered: a run would fail only after training the models
        st.warning(f"This forget set cannot be unlearned: {refusal}. Change it on the Forget set page first.",
                   icon=":material/block:")
        return
    if model_key is None and not common.base_is_trained(spec):
        st.info("The model is not trained yet: the first queued run trains it (and the retrain oracle) first.")
    chosen: dict[str, dict] = {}
    problems: list[str] = []
    for family, title, expanded in FAMILIES:
        names = list_methods(family)
        if not names:
            continue
        with st.expander(f"{title} ({len(names)})", expanded=expanded):
            for name in names:
                params, refused = method_block(name, common.lab().applicability(name, spec, forget))
                problems += refused
                if params is not None:
                    chosen[name] = params
    if problems:
        st.error(f"Fix {len(problems)} value{'s' if len(problems) != 1 else ''} before queueing: "
                 + "; ".join(problems), icon=":material/block:")
    label = f"Queue {len(chosen)} run{'s' if len(chosen) != 1 else ''}"
    if st.button(label, key=S.W_QUEUE, type="primary", disabled=not chosen or bool(problems)):
        for name, params in chosen.items():
            common.queue_run(spec, forget, name, params, model_key)
        st.session_state[S.GROUP] = common.current_group_key(model_key)
        st.success(f"Queued {', '.join(chosen)}. Follow them below; results land on Compare.")
    common.job_panel()
    runs = common.lab().runs(limit=15)
    if runs:
        st.subheader("Recent runs")
        rows = [{"method": r["method"], "status": r["status"], "forget": ForgetSpec.from_dict(r["forget"]).describe(),
                 "seconds": None if r["seconds"] is None else round(r["seconds"], 2),
                 "reason": r.get("error") or ""} for r in runs]
        st.dataframe(rows, hide_index=True, key="unlearn_recent")


common.guarded(body)
