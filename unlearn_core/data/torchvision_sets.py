"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 through torchvision, read from a local folder.

The files are downloaded only when they are missing and a network is reachable; otherwise the user gets
a message naming the folder to fill.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import torch

from unlearn_core import UserInputError
from unlearn_core.data.base import (
    DatasetInfo,
    ImageDataset,
    data_root,
    normalise,
    register_dataset,
    stratified_subset,
)

# (registry name, torchvision class name, title, sub-folder torchvision reads)
_SETS = {
    "mnist": ("MNIST", "MNIST (28x28 grey digits)", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST (28x28 grey clothing)", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "CIFAR-10 (32x32 RGB)", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "CIFAR-100 (32x32 RGB)", "cifar-100-python"),
}


def network_available(host: str = "pypi.org", timeout: float = 2.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _open(name: str, root: Path, train: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, _SETS[name][0])
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        if not network_available():
            raise UserInputError(
                f"{name} files are not in {root / _SETS[name][2]} and there is no network to download "
                f"them; copy the official files there or set UNLEARN_DATA"
            ) from None
    try:
        return cls(str(root), train=train, download=True)
    except Exception as exc:  # a failed download is the user's environment, not a bug
        raise UserInputError(f"could not download {name} into {root}: {exc}") from None


def _to_tensor(data) -> torch.Tensor:
    """torchvision keeps MNIST as (N, H, W) uint8 tensors and CIFAR as (N, H, W, C) uint8 arrays."""
    arr = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    arr = arr.astype(np.float32) / 255.0
    if arr.ndim == 3:
        arr = arr[:, None]
    else:
        arr = arr.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _load(name: str, root: str | None, max_train: int | None, max_test: int | None, seed: int) -> ImageDataset:
    folder = Path(root).expanduser() if root else data_root()
    train, test = _open(name, folder, True), _open(name, folder, False)
    y_train, y_test = torch.as_tensor(train.targets).long(), torch.as_tensor(test.targets).long()
    x_train, x_test = _to_tensor(train.data), _to_tensor(test.data)
    if max_train:
        keep = stratified_subset(y_train, int(max_train), seed)
        x_train, y_train = x_train[keep], y_train[keep]
    if max_test:
        keep = stratified_subset(y_test, int(max_test), seed)
        x_test, y_test = x_test[keep], y_test[keep]
    x_train, x_test, mean, std = normalise(x_train, x_test)
    return ImageDataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=[str(c) for c in train.classes],
        mean=mean,
        std=std,
        options={"root": str(folder), "max_train": max_train, "max_test": max_test, "seed": seed},
    )


def _register(name: str) -> None:
    _, title, sub = _SETS[name]

    @register_dataset(
        DatasetInfo(
            name=name,
            title=title,
            description=f"torchvision's {title} read from <data folder>/{sub}; downloaded only when missing "
            "and a network exists. `max_train`/`max_test` keep a seeded stratified subset.",
            needs_files=True,
            default_options=(("root", None), ("max_train", None), ("max_test", None), ("seed", 0)),
        )
    )
    def loader(
        root: str | None = None, max_train: int | None = None, max_test: int | None = None, seed: int = 0
    ) -> ImageDataset:
        return _load(name, root, max_train, max_test, seed)


for _name in _SETS:
    _register(_name)
