"""Predictions and attributions: how the original, each unlearned model and the retrain oracle see chosen
images, which pixels drive them, and what-if sliders for the one-shot methods."""

from __future__ import annotations

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
from unlearn_core.methods import WhatIf, has_diagnostic, list_methods, whatif_hooks
from unlearn_core.models.training import accuracy
from unlearn_core.viz import captions
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
    st.caption(captions.ATTRIBUTIONS)
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
        if not entry.get("run_id") or not whatif_hooks(entry["method"]):
            continue
        diag = common.run_diagnostics(entry["run_id"])
        for panel in whatif_hooks(entry["method"]):
            shown += 1
            with st.container(border=True):
                st.markdown(f"**{entry['label']}**")
                whatif(entry, panel.whatif, diag, base.model, splits)
    if not shown:
        with_hooks = [m for m in list_methods() if whatif_hooks(m)]
        st.info(f"No {', '.join(with_hooks)} run in this scenario: run one to get its what-if slider.")


def whatif(entry: dict, hook: WhatIf, diag: dict, original: nn.Module, splits: Splits) -> None:
    """One method's slider: re-applies its stored edit through the hook declared beside the method."""
    if not has_diagnostic(diag, hook.needs):
        st.info(hook.missing)
        return
    params = entry.get("params") or {}
    options, default = hook.choices(diag, params)
    value = st.select_slider(hook.label, options, value=default, key=S.whatif_slider(entry["label"]),
                             format_func=lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    outcome = hook.apply(original, diag, params, value)
    if outcome.model is not None:
        show_scores(outcome.model, splits, outcome.setting)
    if outcome.table is not None:
        st.dataframe(pd.DataFrame(outcome.table), hide_index=True, key=f"whatif_table_{entry['label']}")
        st.caption(outcome.setting)


def body() -> None:
    common.page_header(
        "Predictions & attributions",
        "what the original model, every unlearned model and the retrain oracle predict on chosen forget and "
        "retain images, and why.",
        "a forgotten image should be predicted like the retrain oracle predicts it; a retained image should keep "
        "its prediction.",
    )
    view = common.chosen_scenario()
    if view is None:
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
