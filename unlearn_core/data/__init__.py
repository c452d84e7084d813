"""Datasets (a registry of loaders), forget-set selection and splits."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from unlearn_core import validation
from unlearn_core.data import digits, imagefolder, shapes, torchvision_sets  # noqa: F401  (registration)
from unlearn_core.data.base import DATASETS, DatasetInfo, ImageDataset, register_dataset
from unlearn_core.data.forget import ForgetSpec, Splits, select_forget

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ForgetSpec",
    "ImageDataset",
    "Splits",
    "checked_dataset_options",
    "dataset_info",
    "given_options",
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
    """Loads (and memoises) a dataset; options are the loader's keyword arguments, checked before anything is
    read (and before they reach the cache, whose keys must be hashable)."""
    return _load_cached(name, tuple(sorted(checked_dataset_options(name, options).items())))


def checked_dataset_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options typed and in range (validation.dataset_options against the loader's declared options)."""
    return validation.dataset_options(name, options, dataset_info(name).default_options)


def given_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options a form filled in, checked (as checked_dataset_options); blank fields are left out, so the
    loader's default applies and the experiment is the one the CLI names without that option."""
    given = {k: v for k, v in options.items() if v is not None and not (isinstance(v, str) and not v.strip())}
    return checked_dataset_options(name, given)


@lru_cache(maxsize=8)
def _load_cached(name: str, options: tuple[tuple[str, Any], ...]) -> ImageDataset:
    return DATASETS.get(name)[1](**dict(options))
