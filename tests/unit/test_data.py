"""Datasets: the embedded digits split, procedural shapes, torchvision formats written by the test, image folders."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlearn_core import UserInputError
from unlearn_core.data import list_datasets, load_dataset


def test_registry_has_every_contract_dataset():
    assert set(list_datasets()) >= {"digits", "shapes", "mnist", "fashion_mnist", "cifar10", "cifar100",
                                    "imagefolder"}


def test_digits_split_is_fixed_stratified_and_normalised():
    ds = load_dataset("digits")
    assert ds.x_train.shape == (1400, 1, 8, 8) and ds.x_test.shape == (397, 1, 8, 8)
    train_share = torch.bincount(ds.y_train, minlength=10).float() / 1400
    test_share = torch.bincount(ds.y_test, minlength=10).float() / 397
    assert (train_share - test_share).abs().max() < 0.01
    assert abs(ds.x_train.mean().item()) < 1e-4 and abs(ds.x_train.std().item() - 1) < 1e-3
    assert np.array_equal(ds.to_display(ds.x_train[:2]).shape, (2, 8, 8, 1))


def test_shapes_is_deterministic_sized_and_learnable_signal():
    a = load_dataset("shapes", n_train=200, n_test=50, seed=3)
    b = load_dataset("shapes", n_train=200, n_test=50, seed=4)
    from unlearn_core.data.shapes import generate_shapes

    x1, y1 = generate_shapes(64, seed=11)
    x2, y2 = generate_shapes(64, seed=11)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert a.x_train.shape == (200, 3, 32, 32) and a.x_test.shape == (50, 3, 32, 32)
    assert not torch.equal(a.x_train, b.x_train)
    assert a.num_classes == 10 and set(a.y_train.tolist()) <= set(range(10))
    _, noisy = generate_shapes(2000, seed=1, label_noise=0.5)
    _, clean = generate_shapes(2000, seed=1, label_noise=0.0)
    assert 0.3 < (noisy != clean).mean() < 0.6


def test_shapes_rejects_bad_options():
    with pytest.raises(UserInputError):
        load_dataset("shapes", n_train=5)
    with pytest.raises(UserInputError):
        load_dataset("shapes", n_train=100, label_noise=1.5)


def _write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    magic = 0x0800 | array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder, prefix", [("mnist", "MNIST", ""), ("fashion_mnist", "FashionMNIST", "")])
def test_mnist_style_files_in_the_official_idx_format(tmp_path: Path, name: str, folder: str, prefix: str):
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    for split, n in (("train", 60), ("t10k", 20)):
        _write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    ds = load_dataset(name, root=str(tmp_path))
    assert ds.x_train.shape == (60, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert ds.y_train.tolist() == [i % 10 for i in range(60)]
    assert ds.num_classes == 10


def _write_cifar(root: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        label_key, meta = "labels", ("batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
        classes = 10
    else:
        folder = root / "cifar-100-python"
        files = ["train", "test"]
        label_key, meta = "fine_labels", ("meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
        classes = 100
    folder.mkdir(parents=True)
    for file in files:
        n = 30 if file != "train" else 200
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 label_key: [int(v) for v in np.arange(n) % classes]}
        (folder / file).write_bytes(pickle.dumps(batch))
    (folder / meta[0]).write_bytes(pickle.dumps(meta[1]))


@pytest.mark.parametrize("name, classes, n_train", [("cifar10", 10, 150), ("cifar100", 100, 200)])
def test_cifar_batches_in_the_official_pickle_format(tmp_path: Path, name: str, classes: int, n_train: int):
    _write_cifar(tmp_path, name)
    ds = load_dataset(name, root=str(tmp_path))
    assert ds.x_train.shape == (n_train, 3, 32, 32) and ds.x_test.shape == (30, 3, 32, 32)
    assert ds.num_classes == classes


def test_cifar_reader_refuses_code_in_pickles(tmp_path: Path):
    _write_cifar(tmp_path, "cifar10")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({"data": Payload()}))
    with pytest.raises(UserInputError, match="not a valid CIFAR batch"):
        load_dataset("cifar10", root=str(tmp_path), max_test=7)
    assert not marker.exists()


def test_missing_torchvision_folder_without_network_is_a_clear_error(tmp_path: Path, monkeypatch):
    from unlearn_core.data import torchvision_sets

    monkeypatch.setattr(torchvision_sets, "network_available", lambda *a, **k: False)
    with pytest.raises(UserInputError, match="no network"):
        load_dataset("cifar10", root=str(tmp_path / "empty"))
    with pytest.raises(UserInputError, match="no network"):
        load_dataset("mnist", root=str(tmp_path / "empty"))


def test_imagefolder_loads_classes_skips_non_images_and_needs_two_classes(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "data"))  # the resized-image cache stays in tmp_path
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    ds = load_dataset("imagefolder", root=str(tmp_path), image_size=16)
    assert ds.class_names == ["cats", "dogs"]
    assert len(ds.y_train) + len(ds.y_test) == 12 and ds.input_shape == (3, 16, 16)
    assert ds.options["skipped_files"] == ["dogs/notes.txt"]
    single = tmp_path / "single"
    (single / "only").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(single / "only" / "a.png")
    with pytest.raises(UserInputError, match="at least two class"):
        load_dataset("imagefolder", root=str(single))


def test_imagefolder_caches_resized_images_once_and_rebuilds_when_a_file_changes(tmp_path: Path, monkeypatch):
    from unlearn_core.data import imagefolder

    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "data"))
    rng = np.random.default_rng(1)
    root = tmp_path / "pets"
    for cls in ("cats", "dogs", "fish"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 14, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    decoded: list[int] = []
    real_decode = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *a: decoded.append(1) or real_decode(*a))
    first = imagefolder.load_imagefolder(root=str(root), image_size=8)
    assert len(decoded) == 12 and Path(first.options["cache_file"]).is_file()
    second = imagefolder.load_imagefolder(root=str(root), image_size=8)
    assert len(decoded) == 12, "the second load reads the cache, it decodes nothing"
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.y_test, second.y_test)
    assert second.class_names == ["cats", "dogs", "fish"]
    uncached = imagefolder.load_imagefolder(root=str(root), image_size=8, cache=False)
    assert torch.equal(uncached.x_train, first.x_train)  # the cache holds exactly what decoding gives
    Image.fromarray(rng.integers(0, 256, (20, 14, 3), dtype=np.uint8)).save(root / "fish" / "4.png")
    third = imagefolder.load_imagefolder(root=str(root), image_size=8)
    assert len(third.y_train) + len(third.y_test) == 13 and third.options["cache_file"] != first.options["cache_file"]
