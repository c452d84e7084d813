"""The facts of a model card: architecture, how the input is adapted, the classes with their counts, how the
model and its retrain oracle were trained. Pure data, drawn by the Model page (and usable by any report)."""

from __future__ import annotations

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.experiment import ORACLE_RECIPE_WARNING, ExperimentSpec, oracle_recipe_text
from unlearn_core.models.architectures import arch_info, input_adaptation
from unlearn_core.models.training import recipe_summary


def card_facts(meta: dict, dataset: ImageDataset) -> dict:
    """Everything the card states in words, for the stored model whose metadata is `meta`."""
    spec = ExperimentSpec.from_dict(meta["spec"])
    info = arch_info(spec.arch)
    train_counts = torch.bincount(dataset.y_train, minlength=dataset.num_classes).tolist()
    test_counts = torch.bincount(dataset.y_test, minlength=dataset.num_classes).tolist()
    imported = meta.get("kind") == "imported"
    facts = {
        "architecture": f"{spec.arch}: {info.title} ({info.source})",
        "architecture_notes": info.description,
        "input": input_adaptation(spec.arch, dataset.input_shape),
        "classes": [{"name": str(name), "train": train_counts[i], "test": test_counts[i]}
                    for i, name in enumerate(dataset.class_names)],
        "skipped_files": len(dataset.options.get("skipped_files") or []),
        "training": (f"imported from {meta.get('source')}; how it was trained is not known to the lab"
                     if imported else f"trained here: {recipe_summary(spec.recipe)}"),
        "oracle": (f"trained from scratch on the retain set with {oracle_recipe_text(meta, spec.recipe)}"
                   if imported else "the same recipe and seed on the retain set only"),
        "oracle_warning": ORACLE_RECIPE_WARNING if imported else "",
    }
    if imported and meta.get("oracle_recipe") != "stated":
        facts["oracle_warning"] += "; state the checkpoint's recipe when importing it if you know it"
    return facts


# Test accuracy below which a model has not learnt its dataset well enough for unlearning to mean much: well under
# what a small CNN reaches on it (digits and MNIST about 0.98, Fashion-MNIST about 0.9, CIFAR-10 with ResNet-18
# about 0.93); other datasets (image folders) use LOW_ACCURACY_FALLBACK, or twice chance when that is higher.
LOW_ACCURACY = {"digits": 0.9, "mnist": 0.95, "fashion_mnist": 0.8, "shapes": 0.8, "cifar10": 0.7, "cifar100": 0.4}
LOW_ACCURACY_FALLBACK = 0.5


def accuracy_warning(meta: dict, num_classes: int) -> str | None:
    """Why a stored model's test accuracy is too low to unlearn from meaningfully, and what to do; None if not."""
    acc = meta.get("test_acc")
    if acc is None:
        return None
    dataset = str(meta.get("dataset") or (meta.get("spec") or {}).get("dataset"))
    floor = LOW_ACCURACY.get(dataset, max(LOW_ACCURACY_FALLBACK, 2.0 / max(1, num_classes)))
    if acc >= floor:
        return None
    history = meta.get("history") or []
    losses = [h["loss"] for h in history if isinstance(h, dict) and "loss" in h]
    still_falling = len(losses) >= 2 and losses[-1] < 0.95 * losses[-2]
    todo = ("train longer (more epochs in the training recipe: the loss was still falling at the last epoch)"
            if still_falling else "train longer or with another learning rate (more epochs in the training recipe)")
    if meta.get("kind") == "imported":
        todo = ("check that the checkpoint was trained on this dataset, with these classes in this order and this "
                "input size")
    else:
        todo += ", give it more training images (the dataset's n_train or max_train option), or choose a larger " \
                "architecture"
    return (f"Test accuracy {acc:.0%} is low for {dataset} (a model worth unlearning from reaches at least "
            f"{floor:.0%}): forgetting and gaps to retrain mean little on a model that has not learnt the task. "
            f"To fix it: {todo}.")
