"""Datasets (a registry of loaders), forget-set selection and splits."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.data import digits, imagefolder, shapes, torchvision_sets  # noqa: F401  (registration)
from unlearn_core.data.base import DATASETS, DatasetInfo, ImageDataset, register_dataset
from unlearn_core.data.forget import ForgetSpec, Splits, select_forget

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ForgetSpec",
    "ImageDataset",
    "Splits",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "select_forget",
]


def list_datasets() -> list[str]:
    return DATASETS.names()


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name)[0]


def load_dataset(name: str = "digits", **options: Any) -> ImageDataset:
    """Loads (and memoises) a dataset; options are the loader's keyword arguments."""
    return _load_cached(name, tuple(sorted(options.items())))


@lru_cache(maxsize=8)
def _load_cached(name: str, options: tuple[tuple[str, Any], ...]) -> ImageDataset:
    info, loader = DATASETS.get(name)
    known = {k for k, _ in info.default_options}
    unknown = [k for k, _ in options if k not in known]
    if unknown:
        raise UserInputError(f"{name} has no option {unknown[0]!r}; options: {sorted(known) or 'none'}")
    return loader(**dict(options))
