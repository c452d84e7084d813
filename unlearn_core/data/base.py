"""The in-memory dataset type and the dataset registry."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearn_core.progress import Progress
from unlearn_core.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a registered dataset."""

    name: str
    title: str
    description: str
    needs_files: bool  # True when the data must exist in (or be downloaded to) a local folder
    default_options: tuple[tuple[str, Any], ...] = ()


@dataclass
class ImageDataset:
    """A classification dataset held as normalised float tensors (N, C, H, W) on the CPU.

    Small image datasets fit in memory, so every consumer indexes tensors instead of running a DataLoader.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.y_train = self.y_train.long()
        self.y_test = self.y_test.long()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def to_display(self, x: torch.Tensor) -> np.ndarray:
        """Undo normalisation: (N, C, H, W) normalised -> (N, H, W, C) uint8 for thumbnails."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        img = (x.detach().cpu().float() * std + mean).clamp(0, 1)
        return (img.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


# Where a slow loader (an image folder decoded for the first time) reports its progress: the CLI prints it
# on stderr, a dashboard job shows it; a context variable, so a loader's signature stays its options.
LOADING_PROGRESS: ContextVar[Progress | None] = ContextVar("loading_progress", default=None)


def report_loading(fraction: float, message: str) -> None:
    report = LOADING_PROGRESS.get()
    if report is not None:
        report(fraction, message)


DatasetLoader = Callable[..., ImageDataset]
DATASETS: Registry[tuple[DatasetInfo, DatasetLoader]] = Registry("dataset")


def register_dataset(info: DatasetInfo) -> Callable[[DatasetLoader], DatasetLoader]:
    def decorator(loader: DatasetLoader) -> DatasetLoader:
        DATASETS.register(info.name)((info, loader))
        return loader

    return decorator


def data_root() -> Path:
    """Folder for file-backed datasets: UNLEARN_DATA, else <UNLEARN_HOME>/data."""
    if os.environ.get("UNLEARN_DATA"):
        return Path(os.environ["UNLEARN_DATA"]).expanduser()
    from unlearn_core.store import workspace_root

    return workspace_root() / "data"


def normalise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple]:
    """Per-channel standardisation with training statistics; inputs are floats in [0, 1]."""
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-6)
    view = (1, -1, 1, 1)
    x_train = (x_train - mean.view(view)) / std.view(view)
    x_test = (x_test - mean.view(view)) / std.view(view)
    return x_train, x_test, tuple(mean.tolist()), tuple(std.tolist())


def stratified_subset(y: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """A seeded subset of `size` indices keeping class proportions (used to cap large datasets)."""
    if size >= len(y):
        return torch.arange(len(y))
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    keep, _ = train_test_split(idx, train_size=size, stratify=y.numpy(), random_state=seed)
    return torch.from_numpy(np.sort(keep))
