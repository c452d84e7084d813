"""Forget set: whole classes, hand-picked images, a random share, or a lasso on the feature embedding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st
import torch

from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.analysis import embed_features
from unlearn_core.analysis.embedding import EMBEDDING_SAMPLE, embedding_sample
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.validation import SEED_MAX
from unlearn_core.viz import model as vm

PAGE_SIZE = 24
PREDICTION_SAMPLE = 5000  # training images the gallery's prediction filters look at
CHOSEN_SHOWN = 16  # thumbnails of already chosen images


def sample_predictions(spec: ExperimentSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training indices, predictions, confidences) on every image of a small training set, else on a seeded
    stratified sample of PREDICTION_SAMPLE (a forward pass over 60,000 images would block the page)."""
    base = common.lab().base_model(spec)
    dataset = common.lab().dataset(base.spec)
    index = embedding_sample(dataset.y_train, seed=base.spec.seed, limit=PREDICTION_SAMPLE)
    pred, conf = common.predict(base.model, dataset.x_train[torch.as_tensor(index)])
    return index, pred.numpy(), conf.numpy()


def embedding(spec: ExperimentSpec, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(training indices embedded, their 2-D coordinates): all images, or a seeded sample of large sets."""
    base = common.lab().base_model(spec)
    dataset = common.lab().dataset(base.spec)
    index = embedding_sample(dataset.y_train, seed=base.spec.seed)
    x = dataset.x_train[torch.as_tensor(index)].to(common.lab().device)
    return index, embed_features(base.model, x, method, seed=base.spec.seed)


def toggle(index: int) -> None:
    spec = common.forget_spec()
    chosen = set(spec.indices)
    chosen.symmetric_difference_update({index})
    common.set_forget(replace(spec, indices=tuple(sorted(chosen))))


def clear_all() -> None:
    common.set_forget(ForgetSpec())
    st.session_state[S.W_CLASSES] = []
    st.session_state[S.W_RANDOM_ON] = False


def add_lasso() -> None:
    spec = common.forget_spec()
    chosen = set(spec.indices) | set(st.session_state[S.LASSO_IDS])
    common.set_forget(replace(spec, indices=tuple(sorted(chosen))))
    st.session_state[S.LASSO_IDS] = []


def classes_section(dataset, spec: ForgetSpec) -> ForgetSpec:
    st.subheader("Whole classes")
    firsts = [int(torch.nonzero(dataset.y_train == k)[0]) for k in range(dataset.num_classes)]
    common.chart(vm.image_tiles(dataset.to_display(dataset.x_train[firsts]),
                                   [f"class {c}" for c in dataset.class_names], columns=min(10, len(firsts)),
                                   tile_px=70), key="forget_class_tiles")
    names = list(range(dataset.num_classes))
    chosen = st.multiselect("Classes to forget", names, default=[c for c in spec.classes if c < len(names)],
                            key=S.W_CLASSES, format_func=lambda k: f"{k}: {dataset.class_names[k]}")
    return replace(spec, classes=tuple(sorted(chosen)))


def random_section(spec: ForgetSpec) -> ForgetSpec:
    st.subheader("A random share of the training set")
    on = st.checkbox("Forget a random share", value=spec.random_fraction is not None, key=S.W_RANDOM_ON)
    fraction = st.slider("Share", 0.01, 0.5, value=spec.random_fraction or 0.1, step=0.01, key=S.W_RANDOM_FRACTION,
                         disabled=not on)
    seed = int(st.number_input("Seed of the draw", min_value=0, max_value=SEED_MAX, value=spec.seed,
                               key=S.W_RANDOM_SEED, disabled=not on))
    return replace(spec, random_fraction=float(fraction) if on else None, seed=seed if on else spec.seed)


def chosen_section(dataset, spec: ForgetSpec) -> None:
    """Thumbnails of the hand-picked images already in the set (the first CHOSEN_SHOWN), with the count."""
    if not spec.indices:
        return
    shown = [i for i in spec.indices if i < len(dataset.y_train)][:CHOSEN_SHOWN]
    more = f", the first {len(shown)} shown" if len(spec.indices) > len(shown) else ""
    st.markdown(f"**Chosen so far: {len(spec.indices)} image{'s' if len(spec.indices) != 1 else ''}**{more} "
                "(click one's button in the gallery, or Clear the forget set below, to remove it)")
    if shown:
        images = dataset.to_display(dataset.x_train[torch.as_tensor(shown, dtype=torch.long)])
        y = dataset.y_train
        st.image([np.repeat(im, 3, axis=2) if im.shape[2] == 1 else im for im in images], width=56,
                 caption=[f"#{i} · {dataset.class_names[int(y[i])]}" for i in shown])


def gallery_section(dataset, spec: ForgetSpec, preds: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                    model, trained: bool) -> None:
    st.subheader("Hand-picked images")
    st.caption("Filter, then click an image's button to add it to (or remove it from) the forget set.")
    chosen_section(dataset, spec)
    y = dataset.y_train.numpy()
    mask = np.ones(len(y), dtype=bool)
    c1, c2, c3 = st.columns(3)
    cls = c1.selectbox("Class", ["all", *range(dataset.num_classes)], key=S.W_GALLERY_CLASS)
    if cls != "all":
        mask &= y == cls
    if preds is not None:
        index, pred, conf = preds
        kind = c2.selectbox("Prediction", ["all", "correct", "wrong"], key=S.W_GALLERY_PRED)
        lo, hi = c3.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key=S.W_GALLERY_CONF)
        if kind != "all" or (lo, hi) != (0.0, 1.0):
            keep = (conf >= lo) & (conf <= hi)
            if kind != "all":
                keep &= (pred == y[index]) if kind == "correct" else (pred != y[index])
            sampled = np.zeros(len(y), dtype=bool)
            sampled[index[keep]] = True
            mask &= sampled
            if len(index) < len(y):
                st.caption(f"The prediction filters look at a seeded sample of {len(index):,} of the {len(y):,} "
                           f"training images (stratified by class, seed {common.experiment_spec().seed}), so the "
                           "page opens at once on a large dataset.")
    else:
        c2.caption("The prediction filters appear when the model's predictions are ready." if trained
                   else "Train the model to filter by its predictions.")
    ids = np.nonzero(mask)[0]
    pages = max(1, -(-len(ids) // PAGE_SIZE))
    page = int(st.number_input(f"Page (of {pages}; {len(ids)} images match)", 1, pages, 1, key=S.W_GALLERY_PAGE))
    shown = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    chosen = set(spec.indices)
    x_shown = dataset.x_train[torch.as_tensor(shown, dtype=torch.long)]
    images = dataset.to_display(x_shown) if len(shown) else []
    # the shown page's predictions are computed for its images alone: a forward pass of PAGE_SIZE images
    page_pred, page_conf = (common.predict(model, x_shown) if model is not None and len(shown) else (None, None))
    columns = st.columns(8)
    for j, (i, img) in enumerate(zip(shown, images, strict=True)):
        with columns[j % 8]:
            caption = f"#{i} · {dataset.class_names[y[i]]}"
            if page_pred is not None:
                caption += f" → {dataset.class_names[int(page_pred[j])]} {float(page_conf[j]):.0%}"
            st.image(np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img, caption=caption, width=72)
            st.button("✓ chosen" if int(i) in chosen else "choose", key=S.gallery_toggle(int(i)), on_click=toggle,
                      args=(int(i),), type="primary" if int(i) in chosen else "secondary")


def lasso_section(dataset, spec: ForgetSpec) -> None:
    st.subheader("Lasso on the model's features")
    labels = {"pca": "PCA (instant)", "tsne": "t-SNE (about a minute on 2 CPU cores)"}
    method = st.radio("Embedding", list(labels), horizontal=True, key=S.W_EMBEDDING, format_func=labels.get)
    experiment = common.experiment_spec()
    images = min(len(dataset.y_train), EMBEDDING_SAMPLE)
    computed = common.background_value(f"{method} embedding of {common.base_key(experiment)}", images,
                                       lambda: embedding(experiment, method))
    if computed is None:
        st.caption("The map appears here when the embedding is ready; the rest of the page works meanwhile.")
        return
    index, coords = computed
    selected = np.isin(index, common.forget_spec_indices(spec, dataset))
    fig = vm.embedding_scatter(coords, dataset.y_train.numpy()[index], dataset.class_names, selected, index)
    if len(index) < len(dataset.y_train):
        st.caption(f"A seeded sample of {len(index):,} of the {len(dataset.y_train):,} training images (stratified "
                   f"by class, seed {common.experiment_spec().seed}; at most {EMBEDDING_SAMPLE:,} are embedded).")
    event = common.chart(fig, on_select="rerun", selection_mode="lasso", key=S.W_LASSO_CHART)
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    ids = sorted({int(p["customdata"]) for p in points if "customdata" in p})
    st.session_state[S.LASSO_IDS] = ids
    st.caption("Drag a lasso around points (outlined points are already in the forget set).")
    st.button(f"Add the {len(ids)} lassoed images", key=S.W_LASSO_ADD, on_click=add_lasso, disabled=not ids)


def summary_section(dataset, spec: ForgetSpec) -> None:
    st.subheader("What will be forgotten")
    try:
        summary = Splits.build(dataset, spec).summary()
    except UserInputError as exc:  # an empty or invalid selection is explained, and can still be cleared
        st.info(f"{exc}.", icon=":material/info:")
        st.button("Clear the forget set", key=S.W_CLEAR, on_click=clear_all)
        return
    cols = st.columns(4)
    cols[0].metric("Forget images", summary["forget_size"])
    cols[1].metric("Retain images", summary["retain_size"])
    cols[2].metric("Scenario", summary["scenario"])
    cols[3].metric("Whole classes", ", ".join(map(str, summary["forget_classes"])) or "none")
    st.markdown(f"**Forget set:** {summary['description']}")
    common.chart(vm.per_class_bars(
        [c / max(1, int((dataset.y_train == k).sum())) for k, c in enumerate(summary["forget_per_class"])],
        dataset.class_names, "Share of each class's training images being forgotten",
        y_title="share forgotten"), key="forget_share")
    st.button("Clear the forget set", key=S.W_CLEAR, on_click=clear_all)


def body() -> None:
    common.page_header(
        "Forget set",
        "what the model should forget: whole classes, images you pick, a random share, or a region of the "
        "model's feature space; any combination.",
        "build the set with the sections below; the summary at the bottom is what the Unlearn page will use.",
    )
    spec = common.experiment_spec()
    dataset = common.lab().dataset(spec)
    forget = common.forget_spec()
    trained = common.base_is_trained(spec)
    forget = classes_section(dataset, forget)
    forget = random_section(forget)
    common.set_forget(forget)
    preds = None
    if trained:
        preds = common.background_value(f"gallery predictions of {common.base_key(spec)}",
                                        min(len(dataset.y_train), PREDICTION_SAMPLE), lambda: sample_predictions(spec))
    model = common.lab().base_model(spec).model if trained else None
    gallery_section(dataset, forget, preds, model, trained)
    if trained:
        lasso_section(dataset, common.forget_spec())
    else:
        st.info("Train the model on the Model page to select images on its feature embedding.")
    summary_section(dataset, common.forget_spec())


common.guarded(body)
