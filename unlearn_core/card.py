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
