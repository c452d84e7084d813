"""Model: choose dataset, architecture and training recipe; train in the background or import weights;
read the model card of the active model."""

from __future__ import annotations

import re
import tempfile
from dataclasses import fields
from pathlib import Path

import streamlit as st
import torch

from pages._ui import architectures as archs_ui
from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.card import accuracy_warning
from unlearn_core.data import dataset_info, given_options, list_datasets
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.labels import model_label
from unlearn_core.metrics.accuracy import confusion_matrix, per_class_accuracy
from unlearn_core.models.checkpoint import read_state_dict_file
from unlearn_core.models.training import TrainRecipe, default_recipe
from unlearn_core.validation import SEED_MAX
from unlearn_core.viz import model as vm

RECIPE_HELP = {
    "optimizer": "adam or sgd", "lr": "learning rate", "momentum": "SGD momentum",
    "weight_decay": "L2 penalty", "schedule": "learning-rate schedule", "epochs": "passes over the training set",
    "batch_size": "images per step", "augment": "random crop + flip (32x32 natural images)",
    "mnemonic_t_mix": "share of images replaced by their class's code (needed by the mnemonic method)",
    "record_updates": "record every step's parameter update (needed by amnesiac methods)",
    "record_rho": "per-layer share of each recorded update kept (1 = all)",
}
CHOICES = {"optimizer": ("adam", "sgd"), "schedule": ("constant", "cosine", "step")}
OPTION_HELP = {
    "n_train": "training images to generate", "n_test": "test images to generate",
    "label_noise": "share of training labels replaced by another class (test labels stay clean): something to "
                   "memorise, so random forgetting has work to do",
    "seed": "seed of the dataset's generation or subset", "root": "folder holding the dataset's files",
    "max_train": "a seeded stratified subset of this many training images (blank: all)",
    "max_test": "a seeded stratified subset of this many test images (blank: all)",
    "image_size": "side of the square the images are resized to", "test_fraction": "share held out for testing",
    "grayscale": "true: one grey channel",
}


def dataset_options_form(dataset: str, current: dict) -> tuple[dict, str | None]:
    """A field per option the dataset declares (blank: its default); returns (the options given, why they are
    refused or None). Blank fields stay out of the experiment, so a model trained with the CLI and the same
    `--dataset-option`s is the same model here."""
    declared = dataset_info(dataset).default_options
    if not declared:
        st.caption(f"{dataset} has no options.")
        return {}, None
    typed = {}
    columns = st.columns(min(4, len(declared)))
    for i, (name, default) in enumerate(declared):
        value = current.get(name)
        typed[name] = columns[i % len(columns)].text_input(
            name, value="" if value is None else str(value), key=S.dataset_option(dataset, name),
            placeholder=f"default: {'none' if default is None else default}", help=OPTION_HELP.get(name))
    try:
        return given_options(dataset, typed), None
    except UserInputError as exc:
        return {}, str(exc)


def use_stored(key: str, meta: dict) -> None:
    """Makes a stored model the active one: the form's widgets take its dataset, options, architecture, seed and
    recipe (set before they are drawn, so the next run shows it trained)."""
    if meta.get("kind") == "imported":
        st.session_state[S.IMPORTED_KEY] = key
        return
    spec = ExperimentSpec.from_dict(meta["spec"]).resolved()
    st.session_state.pop(S.IMPORTED_KEY, None)
    st.session_state[S.W_DATASET], st.session_state[S.W_ARCH] = spec.dataset, spec.arch
    st.session_state[S.W_SEED] = spec.seed
    for name, _ in dataset_info(spec.dataset).default_options:
        value = dict(spec.dataset_options).get(name)
        st.session_state[S.dataset_option(spec.dataset, name)] = "" if value is None else str(value)
    for f in fields(TrainRecipe):
        st.session_state[S.recipe_field(f"{spec.dataset}_{spec.arch}_{f.name}")] = getattr(spec.recipe, f.name)
    common.set_experiment(spec)


def stored_models_section() -> None:
    """Every base and imported model in the workspace (trained here, by the CLI or by a sweep), to make active."""
    rows = [r for r in common.lab().models() if r["kind"] in ("base", "imported")]
    if not rows:
        return
    metas = {r["key"]: r["meta"] for r in rows}
    with st.expander(f"Models in this workspace ({len(rows)})"):
        st.caption("Models trained here, with `unlearn train` (dataset options included) or imported. Using one "
                   "sets the form above to its dataset, options, architecture, seed and recipe.")
        pick = st.selectbox("Stored model", list(metas), key=S.W_STORED_MODEL,
                            format_func=lambda k: model_label(metas[k], k))
        st.button("Use this model", key=S.W_USE_STORED, on_click=use_stored, args=(pick, metas[pick]))


def recipe_form(dataset: str, arch: str) -> TrainRecipe:
    """Widgets for every TrainRecipe field, starting from the default recipe of (dataset, arch)."""
    default = default_recipe(dataset, arch)
    values = {}
    columns = st.columns(4)
    for i, f in enumerate(fields(TrainRecipe)):
        value = getattr(default, f.name)
        key = S.recipe_field(f"{dataset}_{arch}_{f.name}")
        with columns[i % 4]:
            if f.name in CHOICES:
                values[f.name] = st.selectbox(f.name, CHOICES[f.name], index=CHOICES[f.name].index(value), key=key,
                                              help=RECIPE_HELP[f.name])
            elif isinstance(value, bool):
                values[f.name] = st.checkbox(f.name, value=value, key=key, help=RECIPE_HELP[f.name])
            elif isinstance(value, int):
                # no min/max on the widget: an out-of-range value stays visible and is refused below
                values[f.name] = int(st.number_input(f.name, value=value, step=1, key=key, help=RECIPE_HELP[f.name]))
            else:
                values[f.name] = float(st.number_input(f.name, value=float(value), format="%g", key=key,
                                                       help=RECIPE_HELP[f.name]))
    return TrainRecipe(**values)


def recipe_problem(recipe: TrainRecipe) -> str | None:
    """Why the recipe cannot be trained (TrainRecipe.validate's one line), or None."""
    try:
        recipe.validate()
    except UserInputError as exc:
        return str(exc)
    return None


def import_checkpoint(upload, spec: ExperimentSpec, recipe_stated: bool) -> None:
    """Writes the upload to a temp file, validates it against the architecture, registers it."""
    # the temp file keeps the user's file name (its last part only), so a refusal names the file they chose
    name = re.sub(r"[^\w .()-]", "_", Path(upload.name).name).lstrip(".") or "checkpoint.bin"
    with tempfile.TemporaryDirectory(prefix="unlearn-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(upload.getbuffer())
        state = read_state_dict_file(path)
    base = common.lab().register_imported(spec, state, upload.name, recipe_stated)
    st.session_state[S.IMPORTED_KEY] = base.key
    st.success(f"Imported {upload.name}: test accuracy {base.meta['test_acc']:.1%}. It is stored as "
               f"`{base.key}`; its card is shown below.")


def card_data(key: str) -> dict:
    """Predictions of a stored model on the test set."""
    stored = common.lab().stored_model(key)
    dataset = common.lab().dataset(stored.spec)
    pred, conf = common.predict(stored.model, dataset.x_test)
    return {"pred": pred, "conf": conf,
            "per_class": per_class_accuracy(pred, dataset.y_test, dataset.num_classes),
            "confusion": confusion_matrix(pred, dataset.y_test, dataset.num_classes)}


def model_card(key: str) -> None:
    meta = common.lab().stored_model(key).meta
    spec = ExperimentSpec.from_dict(meta["spec"])
    dataset = common.lab().dataset(spec)
    st.subheader("Model card")
    cols = st.columns(4)
    low = accuracy_warning(meta, dataset.num_classes)
    if low:
        st.warning(low, icon=":material/warning:")
    cols[0].metric("Test accuracy", f"{meta['test_acc']:.1%}")
    if meta.get("train_acc") is not None:
        cols[1].metric("Training accuracy", f"{meta['train_acc']:.1%}")
    cols[2].metric("Parameters", f"{meta.get('num_params', 0):,}")
    if meta.get("train_seconds") is not None:
        cols[3].metric("Training time", f"{meta['train_seconds']:.1f} s")
    if meta.get("train_acc") is not None:
        st.caption(f"Memorisation gap (training − test accuracy): {meta['train_acc'] - meta['test_acc']:+.1%}. "
                   "Random forgetting and membership attacks work on this gap: with none, the model treats its "
                   "training images like unseen ones and there is little to forget.")
    st.caption(f"{meta.get('kind', 'base')} model `{key}` · {spec.dataset} · {spec.arch} · "
               f"{'trained here' if meta.get('kind') == 'base' else 'imported from ' + str(meta.get('source'))}"
               f" · {meta.get('created', '')}")
    archs_ui.facts_panel(meta, dataset, key)
    # 10,000 test images (Fashion-MNIST, CIFAR) are predicted in the background; the card's words come first
    data = common.background_value(f"test predictions of {key}", len(dataset.y_test), lambda: card_data(key))
    if data is None:
        st.caption("The per-class accuracy, the confusion matrix and sample predictions appear here when the test "
                   "set's predictions are ready.")
        return
    left, right = st.columns(2)
    with left:
        common.chart(vm.per_class_bars(data["per_class"], dataset.class_names), key="model_per_class")
        if meta.get("history"):
            common.chart(vm.history_figure(meta["history"]), key="model_history")
    with right:
        common.chart(vm.confusion_figure(data["confusion"], dataset.class_names), key="model_confusion")
    st.markdown("**Sample test predictions** (✓ correct, ✗ wrong; the number is the model's confidence)")
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(dataset.y_test), generator=gen)[:16]
    titles = [f"{'✓' if int(data['pred'][i]) == int(dataset.y_test[i]) else '✗'} "
              f"{dataset.class_names[int(data['pred'][i])]} ({float(data['conf'][i]):.0%})" for i in idx]
    common.chart(vm.image_tiles(dataset.to_display(dataset.x_test[idx]), titles, columns=8), key="model_samples")


def body() -> None:
    common.page_header(
        "Model",
        "the model every method starts from: its dataset, architecture and training recipe, or weights you import.",
        "train (runs in the background; progress below) or import, then check the model card: a model worth "
        "unlearning from should be accurate on every class.",
    )
    spec = common.experiment_spec().resolved()
    datasets = list_datasets()
    c1, c2, c3 = st.columns(3)
    dataset = c1.selectbox("Dataset", datasets, index=datasets.index(spec.dataset), key=S.W_DATASET,
                           format_func=lambda d: f"{d} — {dataset_info(d).title}")
    c1.caption(dataset_info(dataset).description)
    current = dict(spec.dataset_options) if dataset == spec.dataset else {}
    with st.expander("Dataset options" + (f": {', '.join(f'{k}={v}' for k, v in current.items())}" if current
                                          else ""), expanded=False):
        options, option_problem = dataset_options_form(dataset, current)
    if option_problem:
        st.error(f"Dataset options: {option_problem}. Fix them to train or use this model.", icon=":material/block:")
        options = current
    shape, classes, n_train, known = archs_ui.dataset_size(dataset, tuple(sorted(options.items())))
    arch = archs_ui.arch_picker(c2, spec.arch, shape, classes)
    seed = int(c3.number_input("Seed", min_value=0, max_value=SEED_MAX, value=spec.seed, step=1, key=S.W_SEED))
    with st.expander("Training recipe", expanded=False):
        recipe = recipe_form(dataset, arch)
    archs_ui.cost_panel(arch, shape, classes, n_train, known, recipe)
    problem = recipe_problem(recipe)
    if problem:
        st.error(f"Training recipe: {problem}. Fix it to train or use this model.", icon=":material/block:")
    problem = problem or option_problem
    chosen = spec if problem else ExperimentSpec(dataset, arch, seed, recipe, tuple(sorted(options.items())))
    trained = common.base_is_trained(chosen)
    if chosen.resolved().to_dict() != spec.to_dict():
        common.set_experiment(chosen)
    label = "Use this trained model" if trained else "Train in the background"
    if st.button(label, key=S.W_TRAIN, type="primary", disabled=problem is not None):
        common.queue_training(chosen)
    st.caption("This experiment is " + ("already trained: its card is below." if trained
                                        else "not trained yet; training starts when you press the button."))
    common.job_panel()
    stored_models_section()
    with st.expander("Import your own checkpoint"):
        st.markdown(f"A **safetensors** file or a **weights-only PyTorch state dict** for `{arch}` on `{dataset}`. "
                    "Files that would run code when loaded are refused. Keys and shapes are checked against the "
                    "architecture.")
        upload = st.file_uploader("Checkpoint", type=["safetensors", "pt", "pth", "bin"], key=S.W_UPLOAD)
        stated = archs_ui.oracle_recipe_choice()
        if upload is not None and st.button("Import", key=S.W_IMPORT):
            import_checkpoint(upload, chosen if stated else ExperimentSpec(dataset, arch, seed), stated)
        st.caption("An imported model gets a model card and can be unlearned: choose it on the Unlearn page (or "
                   "`unlearn run --model <key> ...`). torchvision's ResNet-18 is `torchvision:resnet18`; the "
                   "built-in `resnet18` has the CIFAR stem.")
    key = st.session_state.get(S.IMPORTED_KEY)
    if key and common.lab().has_model(key):
        model_card(key)
    elif trained:
        model_card(common.base_key(chosen))


common.guarded(body)
