"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 in their official file formats, read from a local folder.

MNIST-style IDX files are read plain or gzipped (unlearn_core.data.idx) from torchvision's folder layout
(`<root>/FashionMNIST/raw/`) or from a flat folder; without a `root` option, Fashion-MNIST is also found where
Debian's `dataset-fashion-mnist` package installs it (/usr/share/datasets/fashion-mnist/, read in place, no
copy). CIFAR's pickled batches are read with a restricted unpickler that only rebuilds numpy arrays, so a
tampered file in the data folder cannot run code. Missing files are downloaded (by torchvision, which checks
their checksums) only when a network is reachable; otherwise the message says how to get them.

The official files are read once per process (kept as uint8), and `max_train`/`max_test` subsets are taken
before the images become float tensors, so a 5k-image experiment never holds 60k float images.
"""

from __future__ import annotations

import pickle
import socket
from functools import lru_cache
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
from unlearn_core.data.idx import read_idx

# (registry name, torchvision class name, title, sub-folder torchvision reads)
_SETS = {
    "mnist": ("MNIST", "MNIST (28x28 grey digits)", "MNIST/raw"),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST (28x28 grey clothing)", "FashionMNIST/raw"),
    "cifar10": ("CIFAR10", "CIFAR-10 (32x32 RGB)", "cifar-10-batches-py"),
    "cifar100": ("CIFAR100", "CIFAR-100 (32x32 RGB)", "cifar-100-python"),
}


# Where Debian's packages put the official files (read in place); apt package that installs them
SYSTEM_FOLDERS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"), "dataset-fashion-mnist")}
# the class names torchvision gives these sets (importing torchvision for them alone takes seconds)
IDX_CLASSES = {
    "mnist": ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
              "8 - eight", "9 - nine"],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
IDX_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


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


def _how_to_get(name: str) -> str:
    system = SYSTEM_FOLDERS.get(name)
    apt = f"install them with `apt-get install {system[1]}` (Debian/Ubuntu, into {system[0]}), " if system else ""
    return f"{apt}copy the official files there, or set UNLEARN_DATA (or the root option) to a folder holding them"


def _download(name: str, root: Path) -> None:
    if not network_available():
        raise UserInputError(
            f"{name} files are not in {root / _SETS[name][2]} and there is no network to download "
            f"them; {_how_to_get(name)}"
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


def missing_files_reason(name: str, options: dict | None = None) -> str | None:
    """None when the official files of dataset `name` are on this machine (or `name` needs none of these),
    else a one-line reason that says how to get them. A named `root` option is the user's to check."""
    if (options or {}).get("root") or name not in _SETS:
        return None
    title = _SETS[name][1].split(" (")[0]
    if name in _CIFAR_FILES:
        missing = missing_cifar_files(name)
        if missing:
            folder = data_root() / _SETS[name][2]
            return (f"needs the {title} python batches in {folder} (missing: {', '.join(missing[:3])}"
                    f"{'…' if len(missing) > 3 else ''}); copy the official files there or set UNLEARN_DATA to "
                    f"the folder that holds {_SETS[name][2]}")
    elif name in SYSTEM_FOLDERS and idx_folder(name, data_root(), False) is None:
        system, package = SYSTEM_FOLDERS[name]
        return (f"needs the {title} files: `apt-get install {package}` (into {system}), or torchvision's "
                f"{_SETS[name][2]} folder in {data_root()} (set UNLEARN_DATA to another folder that holds it)")
    return None


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


def _idx_file(folder: Path, base: str) -> Path | None:
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_folder(name: str, root: Path, explicit_root: bool) -> Path | None:
    """The first folder holding all four IDX files of `name`: torchvision's layout under `root`, `root` itself
    (a flat folder), then, unless the user named a root, the folder a system package installs."""
    folders = [root / _SETS[name][2], root]
    if not explicit_root and name in SYSTEM_FOLDERS:
        folders.append(SYSTEM_FOLDERS[name][0])
    for folder in folders:
        if all(_idx_file(folder, base) for pair in IDX_FILES.values() for base in pair):
            return folder
    return None


@lru_cache(maxsize=4)
def _read_idx_split(folder: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, labels) of one split, read once per process."""
    images_file, labels_file = (_idx_file(Path(folder), base) for base in IDX_FILES[train])
    images, labels = read_idx(images_file), read_idx(labels_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserInputError(f"{images_file} and {labels_file} do not form an image/label pair "
                             f"(shapes {images.shape} and {labels.shape})")
    return images, labels.astype(np.int64)


def _read_mnist_style(name: str, root: Path, explicit_root: bool) -> tuple[Path, tuple, tuple, list[str]]:
    folder = idx_folder(name, root, explicit_root)
    if folder is None:
        _download(name, root)
        folder = idx_folder(name, root, explicit_root)
        if folder is None:
            raise UserInputError(f"the download of {name} into {root} left files missing")
    return folder, _read_idx_split(str(folder), True), _read_idx_split(str(folder), False), IDX_CLASSES[name]


def _to_tensor(data: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 -> (N, C, H, W) floats in [0, 1]."""
    images = torch.from_numpy(np.ascontiguousarray(data))
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
    return images.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)  # one float copy


def _load(name: str, root: str | None, max_train: int | None, max_test: int | None, seed: int) -> ImageDataset:
    folder = Path(root).expanduser() if root else data_root()
    if name in _CIFAR_FILES:
        (train_x, train_labels, classes), (test_x, test_labels, _) = (_read_cifar(name, folder, True),
                                                                      _read_cifar(name, folder, False))
        train_y, test_y, source = np.asarray(train_labels), np.asarray(test_labels), folder / _SETS[name][2]
    else:
        source, (train_x, train_y), (test_x, test_y), classes = _read_mnist_style(name, folder, root is not None)
    y_train, y_test = torch.as_tensor(train_y).long(), torch.as_tensor(test_y).long()
    # the subset is chosen on the labels, so only the kept images are ever converted to floats
    if max_train:
        keep = stratified_subset(y_train, int(max_train), seed)
        train_x, y_train = train_x[keep.numpy()], y_train[keep]
    if max_test:
        keep = stratified_subset(y_test, int(max_test), seed)
        test_x, y_test = test_x[keep.numpy()], y_test[keep]
    x_train, x_test, mean, std = normalise(_to_tensor(train_x), _to_tensor(test_x))
    return ImageDataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=[str(c) for c in classes],
        mean=mean,
        std=std,
        options={"root": str(folder), "files": str(source), "max_train": max_train, "max_test": max_test,
                 "seed": seed},
    )


def _register(name: str) -> None:
    _, title, sub = _SETS[name]

    @register_dataset(
        DatasetInfo(
            name=name,
            title=title,
            description=f"{title}, the official files, read from <data folder>/{sub} (torchvision's layout)"
            + (f" or from {SYSTEM_FOLDERS[name][0]} (apt-get install {SYSTEM_FOLDERS[name][1]})"
               if name in SYSTEM_FOLDERS else "")
            + "; downloaded only when missing and a network exists. `max_train`/`max_test` keep a seeded "
            "stratified subset.",
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
