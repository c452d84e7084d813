"""Predictions and attributions: how the original, each unlearned model and the retrain oracle see chosen
images, which pixels drive them, and what-if sliders for the one-shot methods."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import streamlit as st
import torch
from torch import nn

from pages._ui import common
from pages._ui import state as S
from unlearn_core.analysis import attribute
from unlearn_core.analysis.attributions import ATTRIBUTION_METHODS, TITLES
from unlearn_core.data import Splits
from unlearn_core.models.training import accuracy
from unlearn_core.viz import model as vm

SHOWN = 4


def models_of(view: common.GroupView) -> dict[str, nn.Module]:
    models = {"original": common.base_for(view.reference).model, "retrain": common.retrain_for(view.reference).model}
    for entry in view.entries:
        if entry.get("run_id"):
            model = common.run_model(entry["run_id"])
            if model is not None:
                models[entry["label"]] = model
    return models


def predictions_table(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, ids: list[int],
                      splits: list[str], class_names: list[str]) -> pd.DataFrame:
    rows = {f"#{i} ({s}, true {class_names[int(t)]})": {} for i, s, t in zip(ids, splits, y, strict=True)}
    for label, model in models.items():
        pred, conf = common.predict(model, x)
        for row, p, c in zip(rows, pred, conf, strict=True):
            rows[row][label] = f"{class_names[int(p)]} ({float(c):.0%})"
    return pd.DataFrame.from_dict(rows, orient="index")


def attribution_section(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, titles: list[str],
                        images: np.ndarray) -> None:
    st.subheader("Attributions before and after")
    st.caption("Which pixels push each model towards the image's true class (red) or away from it (blue). After "
               "good class forgetting, the evidence for the forgotten class fades like in the retrain oracle.")
    method = st.radio("Attribution", ATTRIBUTION_METHODS, format_func=TITLES.get, horizontal=True,
                      key=S.W_ATTR_METHOD)
    runs = [k for k in models if k not in ("original", "retrain")]
    if not runs:
        st.info("No unlearned model stored in this scenario yet.")
        return
    chosen = st.selectbox("Unlearned model", runs, key=S.W_ATTR_MODEL)
    maps = {}
    for label in ("original", chosen, "retrain"):
        maps[label] = attribute(models[label], x.to(common.lab().device), y.to(common.lab().device), method)
    common.chart(vm.attribution_grid(images, maps, titles, f"{TITLES[method]} for the true class"),
                    key="pred_attr_grid")


def show_scores(model: nn.Module, splits: Splits, setting: str) -> None:
    """Forget accuracy and kept-class test accuracy of an edited model, beside the setting that produced it."""
    xf, yf = splits.forget()
    xr, yr = splits.test_retain()
    left, middle, right = st.columns(3)
    left.metric("Forget accuracy", f"{accuracy(model, xf, yf):.1%}")
    middle.metric("Test accuracy, kept classes", f"{accuracy(model, xr, yr):.1%}")
    right.caption(setting)


def whatif_section(view: common.GroupView) -> None:
    st.subheader("What if: one-shot methods with another setting")
    st.caption("One-shot methods compute their edit once; these sliders re-apply it with another size and "
               "re-evaluate at once (on the full forget set and the kept-class test images).")
    record = view.reference
    base = common.base_for(record)
    splits = Splits.build(common.dataset_for(record), record.forget_spec(), common.lab().device)
    shown = 0
    for entry in view.entries:
        method = entry["method"]
        if method not in ("slug", "mnemonic", "semu") or not entry.get("run_id"):
            continue
        diag = common.run_diagnostics(entry["run_id"])
        shown += 1
        with st.container(border=True):
            st.markdown(f"**{entry['label']}**")
            try:
                if method == "slug":
                    slug_whatif(entry, diag, base.model, splits)
                elif method == "mnemonic":
                    mnemonic_whatif(entry, diag, base.model, splits)
                else:
                    semu_whatif(entry, diag)
            except (ImportError, AttributeError) as exc:
                st.info(f"What-if for {method} is not available in this build ({exc}).")
    if not shown:
        st.info("No slug, mnemonic or semu run in this scenario: run one to get its what-if slider.")


def slug_whatif(entry: dict, diag: dict, original: nn.Module, splits: Splits) -> None:
    from unlearn_core.methods.slug import apply_step

    if diag.get("gradient") is None or not diag.get("chosen_layer"):
        st.info("This run stored no gradient to replay.")
        return
    lam0 = float(diag["lambda"])
    factor = st.select_slider("Step size, relative to the chosen λ", [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0],
                              value=1.0, key=S.whatif_slider(entry["label"]))
    model = apply_step(copy.deepcopy(original), diag["chosen_layer"], diag["gradient"], lam0 * factor)
    show_scores(model, splits, f"λ = {lam0 * factor:.3g} on {diag['chosen_layer']}")


def mnemonic_whatif(entry: dict, diag: dict, original: nn.Module, splits: Splits) -> None:
    from unlearn_core.methods.mnemonic import perturb

    if not diag.get("fisher"):
        st.info("This run stored no Fisher maps to replay.")
        return
    params = dict(original.named_parameters())
    log_ratios = {n: v["log_ratio"].reshape(params[n].shape).to(params[n].device)
                  for n, v in diag["fisher"].items() if n in params}
    lambda1 = st.select_slider("λ₁ (upper bound on the perturbation scale κ)",
                               [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], value=1e-3,
                               key=S.whatif_slider(entry["label"]), format_func=lambda v: f"{v:g}")
    lambda2 = float(entry["params"].get("lambda2", 10.0))
    model = perturb(original, log_ratios, lambda1, lambda2, diag.get("sign", "+"))
    show_scores(model, splits, f"λ₁ = {lambda1:g}, λ₂ = {lambda2:g}, sign {diag.get('sign', '+')}")


def semu_whatif(entry: dict, diag: dict) -> None:
    from unlearn_core.methods.semu import ranks_for_tau

    if not diag.get("spectra"):
        st.info("This run stored no spectra.")
        return
    tau = st.slider("τ (share of gradient energy kept)", 0.5, 0.999, float(entry["params"].get("tau", 0.95)),
                    step=0.005, key=S.whatif_slider(entry["label"]))
    ranks = ranks_for_tau(diag["spectra"], tau)
    table = pd.DataFrame([{"layer": n, "rank": r, "trainable parameters": t} for n, (r, t) in ranks.items()])
    st.dataframe(table, hide_index=True, key="whatif_semu_table")
    st.caption(f"{int(table['trainable parameters'].sum()):,} trainable parameters at τ = {tau:.3f} "
               "(SEMU would then be retrained in that subspace; run it on the Unlearn page to measure).")


def body() -> None:
    common.page_header(
        "Predictions & attributions",
        "what the original model, every unlearned model and the retrain oracle predict on chosen forget and "
        "retain images, and why.",
        "a forgotten image should be predicted like the retrain oracle predicts it; a retained image should keep "
        "its prediction.",
    )
    group = common.group_selector()
    if group is None:
        st.info("No runs yet. Press **Run the demo** on Home, or queue methods on the Unlearn page.")
        return
    view = common.group_view(group)
    if view.reference is None:
        st.info("No finished run in this scenario yet.")
        return
    dataset = common.dataset_for(view.reference)
    forget_idx = common.forget_spec_indices(view.reference.forget_spec(), dataset)
    forget_set = set(forget_idx)
    retain_idx = [i for i in range(len(dataset.y_train)) if i not in forget_set]
    c1, c2 = st.columns(2)
    picked_forget = c1.multiselect("Forget images", forget_idx[:300], default=forget_idx[:SHOWN],
                                   key=S.W_PRED_FORGET, format_func=lambda i: f"#{i}")
    gen = torch.Generator().manual_seed(0)
    retain_default = [retain_idx[i] for i in torch.randperm(len(retain_idx), generator=gen)[:SHOWN].tolist()]
    picked_retain = c2.multiselect("Retain images", sorted(set(retain_idx[:300]) | set(retain_default)),
                                   default=retain_default, key=S.W_PRED_RETAIN, format_func=lambda i: f"#{i}")
    ids = list(picked_forget) + list(picked_retain)
    if not ids:
        st.info("Choose at least one image.")
        return
    splits = ["forget"] * len(picked_forget) + ["retain"] * len(picked_retain)
    index = torch.as_tensor(ids, dtype=torch.long)
    x, y = dataset.x_train[index], dataset.y_train[index]
    images = dataset.to_display(x)
    titles = [f"#{i} {s}" for i, s in zip(ids, splits, strict=True)]
    common.chart(vm.image_tiles(images, titles, columns=8, tile_px=70), key="pred_tiles")
    models = models_of(view)
    st.subheader("Predictions (class and confidence)")
    st.table(predictions_table(models, x, y, ids, splits, dataset.class_names))
    attribution_section(models, x, y, titles, images)
    whatif_section(view)


common.guarded(body)
