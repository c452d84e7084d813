"""Model page pieces: the architecture picker (registry, parameter count, expected cost), the imported model's
oracle recipe choice, and the card's facts in words."""

from __future__ import annotations

import time

import streamlit as st
import torch

from pages._ui import common
from pages._ui import state as S
from unlearn_core import UserInputError
from unlearn_core.card import card_facts
from unlearn_core.data import ImageDataset, load_dataset
from unlearn_core.models.architectures import arch_info, build_model, count_parameters, list_architectures, step_flops
from unlearn_core.models.training import TrainRecipe

FALLBACK_SHAPE, FALLBACK_CLASSES = (3, 32, 32), 10


def dataset_size(dataset: str, options: tuple) -> tuple[tuple[int, int, int], int, int | None, bool]:
    """(input shape, classes, training images, known): a dataset whose files are missing is sized as CIFAR."""
    try:
        data = load_dataset(dataset, **dict(options))
    except UserInputError:
        return FALLBACK_SHAPE, FALLBACK_CLASSES, None, False
    return data.input_shape, data.num_classes, len(data.y_train), True


@st.cache_data(show_spinner=False, max_entries=256)
def parameters(arch: str, shape: tuple[int, int, int], classes: int) -> int:
    return count_parameters(arch, shape, classes)


@st.cache_data(show_spinner="counting the FLOPs of one training step", max_entries=256)
def flops(arch: str, shape: tuple[int, int, int], classes: int) -> int:
    return step_flops(arch, shape, classes)


def arch_picker(column, current: str, shape: tuple[int, int, int], classes: int) -> str:
    """A selectbox over the whole registry, each entry with its parameter count for this dataset."""
    archs = list_architectures()

    def label(arch: str) -> str:
        info = arch_info(arch)
        return f"{arch} — {info.title} · {parameters(arch, shape, classes) / 1e6:.2f}M parameters"

    return column.selectbox("Architecture", archs, index=archs.index(current) if current in archs else 0,
                            key=S.W_ARCH, format_func=label,
                            help="the built-in mlp, cnn and CIFAR-stem resnet18, and torchvision's image "
                                 "classifiers by their torchvision names (`unlearn archs` lists them)")


def cost_panel(arch: str, shape: tuple[int, int, int], classes: int, n_train: int | None, known: bool,
               recipe: TrainRecipe) -> None:
    """What the architecture costs: parameters, FLOPs of a training step, and (on request) a measured step."""
    info = arch_info(arch)
    n_params = parameters(arch, shape, classes)
    per_image = flops(arch, shape, classes)
    sized = "" if known else f" (sized for {'x'.join(map(str, shape))} images: this dataset's files are missing)"
    epoch_text = (f"; one epoch over {n_train:,} images ≈ {per_image * n_train / 1e12:.2f} TFLOP, "
                  f"{recipe.epochs} epochs ≈ {per_image * n_train * recipe.epochs / 1e12:.1f} TFLOP"
                  if n_train else "")
    st.caption(f"**{n_params:,} parameters** ({n_params * 4 / 2**20:.0f} MiB of float32 weights) · "
               f"{per_image / 1e9:.3f} GFLOP per image per training step (forward + backward){epoch_text}{sized}. "
               f"Normalisation: {info.norm}. {info.description}")
    if st.button("Measure a training step on this device", key=S.W_MEASURE_ARCH):
        seconds = measure_step(arch, shape, classes, recipe.batch_size)
        estimate = (f"; {recipe.epochs} epochs over {n_train:,} images ≈ "
                    f"{seconds * n_train / recipe.batch_size * recipe.epochs / 60:.1f} min" if n_train else "")
        st.info(f"One step of {recipe.batch_size} images took {seconds:.2f} s on {common.device_name()}{estimate} "
                "(measured once, after a warm-up step; other work on the machine slows it).")


def measure_step(arch: str, shape: tuple[int, int, int], classes: int, batch_size: int) -> float:
    """Seconds of one forward+backward+SGD step on random images, after one warm-up step."""
    device = common.lab().device
    model = build_model(arch, shape, classes).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(max(2, batch_size), *shape, device=device)
    y = torch.randint(0, classes, (len(x),), device=device)
    for _ in range(2):  # the first step pays for allocation and kernel selection
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def oracle_recipe_choice() -> bool:
    """Whether the recipe form above states the checkpoint's own recipe (else the default is accepted)."""
    choice = st.radio("Retrain oracle recipe", ("accept the lab's default recipe",
                                                "the recipe above is how this checkpoint was trained"),
                      key=S.W_IMPORT_RECIPE, horizontal=True,
                      help="the retrain oracle is trained from scratch with this recipe; one unlike the "
                           "checkpoint's own skews every gap to retrain")
    return choice.startswith("the recipe above")


def facts_panel(meta: dict, dataset: ImageDataset, key: str) -> None:
    """The card's facts in words: architecture, input adaptation, classes and counts, training, oracle."""
    facts = card_facts(meta, dataset)
    st.markdown(f"**Architecture** {facts['architecture']}. {facts['architecture_notes']}  \n"
                f"**Input** {facts['input']}  \n**Training** {facts['training']}  \n"
                f"**Retrain oracle** {facts['oracle']}")
    if facts["oracle_warning"]:
        st.warning(f"Imported model: {facts['oracle_warning']}.")
    counts = ", ".join(f"{c['name']} ({c['train']}+{c['test']})" for c in facts["classes"])
    skipped = f"; {facts['skipped_files']} files were not images and were skipped" if facts["skipped_files"] else ""
    st.caption(f"{len(facts['classes'])} classes (training + test images): {counts}{skipped}")
    if meta.get("kind") == "imported" and common.lab().stored_model(key).artifacts.codes is None:
        st.caption("The mnemonic method needs codes this checkpoint was not trained with. Our extension, not the "
                   "paper's: fine-tune it briefly with codes mixed into 10% of its training images (a new model, "
                   "with its own oracle).")
        if st.button("Add mnemonic codes (2-epoch fine-tune)", key=S.W_ADD_CODES):
            common.submit("train", f"add mnemonic codes to {key}",
                          lambda progress, stop: common.lab().add_mnemonic_codes(key, 2, progress, stop).key)
