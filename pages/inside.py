"""Inside the methods: what each method computed on its way (spectra, layer scores, Fisher maps, masks), and
how much every run moved each layer."""

from __future__ import annotations

import streamlit as st

from pages._ui import common
from unlearn_core.metrics.weights import layer_relative_change
from unlearn_core.viz import inside
from unlearn_core.viz import model as vm

MASK_METHODS = ("partial_amnesiac", "partial_label_flip", "partial_gradient_ascent", "salun", "ssd")


def diagnostics(entry: dict) -> dict:
    return common.run_diagnostics(entry["run_id"])


def newest(entries: list[dict], method: str) -> dict | None:
    matches = [e for e in entries if e["method"] == method]
    return matches[-1] if matches else None


def missing(method: str, what: str) -> None:
    st.info(f"No diagnostics: no finished **{method}** run in this scenario. Queue {method} on the Unlearn page "
            f"to see {what}.")


def semu_view(entries: list[dict]) -> None:
    st.subheader("SEMU: singular-value spectra")
    st.caption("SEMU projects the forget gradient of each layer onto its top singular directions and trains only a "
               "small r×r matrix there. The curve shows how quickly the energy concentrates; the rank r is where "
               "the cumulative energy reaches τ.")
    entry = newest(entries, "semu")
    diag = diagnostics(entry) if entry else {}
    if not diag.get("spectra"):
        missing("semu", "the spectra")
        return
    common.chart(inside.semu_spectra(diag["spectra"]), key="inside_semu_spectra")
    common.chart(inside.semu_rank_bars(diag["spectra"]), key="inside_semu_ranks")
    if diag.get("trainable_total") is not None:
        st.caption(f"{int(diag['trainable_total']):,} trainable parameters in total.")
    if diag.get("history"):
        common.chart(vm.history_figure(diag["history"], "SEMU training per epoch"), key="inside_semu_history")


def slug_view(entries: list[dict]) -> None:
    st.subheader("SLUG: which single layer to edit")
    st.caption("SLUG scores every weight tensor by how much it matters to the forget set (importance, up) and how "
               "much its forget gradient also moves the retain set (alignment, left is better); it edits one layer "
               "on the Pareto front with one gradient step whose size is searched.")
    entry = newest(entries, "slug")
    diag = diagnostics(entry) if entry else {}
    if not diag.get("layer_scores"):
        missing("slug", "the layer scores")
        return
    left, right = st.columns(2)
    with left:
        common.chart(inside.slug_scatter(diag["layer_scores"], diag.get("pareto_front", []),
                                            diag.get("chosen_layer")), key="inside_slug_scatter")
    with right:
        if diag.get("step_search"):
            common.chart(inside.slug_step_search(diag["step_search"], chosen_lambda=diag.get("lambda")),
                         key="inside_slug_steps")
    for i, item in enumerate(diag.get("per_class") or []):
        if item.get("step_search"):
            common.chart(inside.slug_step_search(item["step_search"], f"SLUG step search for class {item['class']}"
                                                 f" (layer {item.get('chosen_layer')})", item.get("lambda")),
                         key=f"inside_slug_cls{i}")
    if diag.get("chosen_layer"):
        lam = diag.get("lambda")
        st.caption(f"Chosen layer **{diag['chosen_layer']}**" + (f", step λ = {lam:.3g}" if lam is not None else ""))


def mnemonic_view(entries: list[dict], class_names: list[str], forgotten: tuple[int, ...]) -> None:
    st.subheader("Mnemonic code: Fisher sensitivity")
    st.caption("The model was trained with one random code image per class. The Fisher information of the codes "
               "says which parameters matter more to the forgotten class than to the others (red); those are "
               "moved, without reading any training image.")
    entry = newest(entries, "mnemonic")
    diag = diagnostics(entry) if entry else {}
    if not diag.get("fisher"):
        missing("mnemonic", "the Fisher maps")
        return
    common.chart(inside.fisher_heatmaps(diag["fisher"], forgotten=forgotten, num_classes=len(class_names)),
                 key="inside_mnemonic_fisher")
    if diag.get("codes") is not None:
        codes = inside.codes_to_images(diag["codes"])
        common.chart(vm.image_tiles(codes, [f"code {c}" for c in class_names[: len(codes)]], columns=10,
                                       title="The mnemonic codes (one per class)", tile_px=70),
                        key="inside_mnemonic_codes")
    if diag.get("moved_share"):
        common.chart(inside.moved_share_bars(diag["moved_share"]), key="inside_mnemonic_moved")
    if diag.get("sign"):
        st.caption(f"Perturbation sign chosen on the codes: **{diag['sign']}**; "
                   + ", ".join(f"{k}: κ={v:.2g}" for k, v in (diag.get("kappa") or {}).items()))


def masks_view(entries: list[dict]) -> None:
    st.subheader("Partial methods: update masks")
    st.caption("Layer-wise partial updates change only the top share ρ of each layer's parameters per step; the maps "
               "count how often each parameter was updated.")
    found = [e for e in entries if e["method"] in MASK_METHODS]
    found = [(e, diagnostics(e)) for e in found]
    found = [(e, d) for e, d in found if d.get("masks") or d.get("storage")]
    if not found:
        missing("partial_amnesiac, partial_label_flip or partial_gradient_ascent", "the update masks")
        return
    for i, (entry, diag) in enumerate(found):
        st.markdown(f"**{entry['label']}**")
        if diag.get("masks"):
            common.chart(inside.mask_heatmaps(diag["masks"]), key=f"inside_masks_{i}")
        if diag.get("storage"):
            storage = diag["storage"]
            common.chart(inside.storage_curve(storage), key=f"inside_storage_{i}")
            if storage.get("steps_total"):
                st.caption(f"{storage.get('steps_touched')} of {storage['steps_total']} recorded training steps "
                           "contained a forget image and were undone.")


@st.cache_data(show_spinner=False, max_entries=256)
def _layer_change(root: str, run_id: str) -> dict[str, float] | None:
    model = common.run_model(run_id)
    if model is None:
        return None
    return layer_relative_change(common.base_for(common.run_record(run_id)).model, model)


def weight_change_view(entries: list[dict]) -> None:
    st.subheader("Every method: how much each layer moved")
    st.caption("‖θ − θ₀‖ / ‖θ₀‖ per parameter tensor, from the stored weights against the original model. One-shot "
               "methods touch few layers; fine-tuning style methods touch all of them.")
    changes = {}
    for e in entries:
        if e.get("run_id"):
            change = _layer_change(common.workspace(), e["run_id"])
            if change is not None:
                changes[e["label"]] = change
    if not changes:
        st.info("No stored run weights in this scenario yet.")
        return
    common.chart(inside.layer_change_bars(changes), key="inside_layer_change")


def history_view(entries: list[dict]) -> None:
    curves = [(e, diagnostics(e).get("history")) for e in entries if e["method"] != "semu"]
    curves = [(e, h) for e, h in curves if h and any("forget_acc" in r or "loss" in r for r in h)]
    if not curves:
        return
    st.subheader("Iterative methods: per-epoch history")
    columns = st.columns(2)
    for i, (entry, history) in enumerate(curves):
        with columns[i % 2]:
            common.chart(vm.history_figure(history, f"{entry['label']} per epoch"), key=f"inside_history_{i}")


def body() -> None:
    common.page_header(
        "Inside the methods",
        "the intermediate results each method computed (its diagnostics) and how far each run moved every layer.",
        "pick a scenario; each section explains its plot. A section says so when its method has not run yet.",
    )
    group = common.group_selector()
    if group is None:
        st.info("No runs yet. Press **Run the demo** on Home, or queue methods on the Unlearn page.")
        return
    view = common.group_view(group)
    entries = [e for e in view.entries if e.get("run_id")]
    if not entries:
        st.info("No finished run in this scenario yet.")
        return
    class_names = common.dataset_for(view.reference).class_names
    semu_view(entries)
    slug_view(entries)
    mnemonic_view(entries, class_names, group.forget.classes)
    masks_view(entries)
    weight_change_view(entries)
    history_view(entries)


common.guarded(body)
