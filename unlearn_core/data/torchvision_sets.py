"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 through torchvision, read from a local folder.

The files are downloaded (by torchvision, which checks their checksums) only when they are missing and a
network is reachable; otherwise the user gets a message naming the folder to fill. MNIST-style IDX files are
parsed by torchvision; CIFAR's pickled batches are read with a restricted unpickler that only rebuilds numpy
arrays, so a tampered file in the data folder cannot run code.
"""

from __future__ import annotations

import pickle
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


_CIFAR_FILES = {
    "cifar10": (["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"], ["test_batch"],
                "batches.meta", "labels", "label_names"),
    "cifar100": (["train"], ["test"], "meta", "fine_labels", "fine_label_names"),
}
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _read_pickle(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise UserInputError(f"{path} is not a valid CIFAR batch file ({exc})") from None


def _download(name: str, root: Path) -> None:
    if not network_available():
        raise UserInputError(
            f"{name} files are not in {root / _SETS[name][2]} and there is no network to download "
            f"them; copy the official files there or set UNLEARN_DATA"
        )
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            getattr(tvd, _SETS[name][0])(str(root), train=train, download=True)
    except Exception as exc:  # a failed download is the user's environment, not a bug
        raise UserInputError(f"could not download {name} into {root}: {exc}") from None


def missing_cifar_files(name: str, root: Path | None = None) -> list[str]:
    """Official CIFAR batch files of `name` not present under `root` (default: the data folder)."""
    train_files, test_files, meta_file, _, _ = _CIFAR_FILES[name]
    folder = (root or data_root()) / _SETS[name][2]
    return [f for f in [*train_files, *test_files, meta_file] if not (folder / f).is_file()]


def _read_cifar(name: str, root: Path, train: bool) -> tuple[np.ndarray, list[int], list[str]]:
    train_files, test_files, meta_file, label_key, names_key = _CIFAR_FILES[name]
    folder = root / _SETS[name][2]
    if missing_cifar_files(name, root):
        _download(name, root)
    data, labels = [], []
    for file in train_files if train else test_files:
        batch = _read_pickle(folder / file)
        data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.extend(int(v) for v in batch[label_key])
    names = [str(n) for n in _read_pickle(folder / meta_file)[names_key]]
    return np.concatenate(data), labels, names


def _read_idx(name: str, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _SETS[name][0])
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        _download(name, root)
        ds = cls(str(root), train=train, download=False)
    return ds.data, ds.targets, list(ds.classes)


def _open(name: str, root: Path, train: bool) -> tuple[object, object, list[str]]:
    """(images, labels, class names) of one split, as stored in the official files."""
    if name in _CIFAR_FILES:
        return _read_cifar(name, root, train)
    return _read_idx(name, root, train)


def _to_tensor(data) -> torch.Tensor:
    """Torchvision keeps MNIST as (N, H, W) uint8 tensors and CIFAR as (N, H, W, C) uint8 arrays."""
    arr = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    arr = arr.astype(np.float32) / 255.0
    if arr.ndim == 3:
        arr = arr[:, None]
    else:
        arr = arr.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr))


def _load(name: str, root: str | None, max_train: int | None, max_test: int | None, seed: int) -> ImageDataset:
    folder = Path(root).expanduser() if root else data_root()
    (train_x, train_y, classes), (test_x, test_y, _) = _open(name, folder, True), _open(name, folder, False)
    y_train, y_test = torch.as_tensor(train_y).long(), torch.as_tensor(test_y).long()
    x_train, x_test = _to_tensor(train_x), _to_tensor(test_x)
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
        class_names=[str(c) for c in classes],
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
