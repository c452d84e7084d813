"""Fashion-MNIST: the IDX reader (plain and gzipped, on generated files), where the files are looked for, the
message when they are missing, and a real 2,000-image subset where Debian's package is installed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core import UserInputError
from unlearn_core.data import load_dataset, torchvision_sets
from unlearn_core.data.idx import read_idx

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": "train-{}-idx{}-ubyte", "t10k": "t10k-{}-idx{}-ubyte"}


def _idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_split_files(folder: Path, gz: bool, n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images, labels = rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10
        arrays[split] = (images.astype(np.uint8), labels)
        for kind, dims, array in (("images", 3, images), ("labels", 1, labels)):
            name = FILES[split].format(kind, dims) + (".gz" if gz else "")
            data = _idx_bytes(array)
            (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.fixture
def no_system_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the Debian folder nor a network: only the files a test writes exist."""
    monkeypatch.setattr(torchvision_sets, "SYSTEM_FOLDERS",
                        {"fashion_mnist": (tmp_path / "not-installed", "dataset-fashion-mnist")})
    monkeypatch.setattr(torchvision_sets, "network_available", lambda *a, **k: False)


def test_gzipped_idx_is_read_exactly(tmp_path: Path) -> None:
    array = np.random.default_rng(1).integers(0, 256, (7, 28, 28)).astype(np.uint8)
    (tmp_path / "x.gz").write_bytes(gzip.compress(_idx_bytes(array)))
    (tmp_path / "x").write_bytes(_idx_bytes(array))
    assert np.array_equal(read_idx(tmp_path / "x.gz"), array) and np.array_equal(read_idx(tmp_path / "x"), array)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28) + bytes(100), "should hold 1568 values"),
    (b"PK\x03\x04rest", "bad magic number"),
    (b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + bytes(4), "only unsigned bytes"),
    (b"\x00\x00\x08\x03\x00", "truncated IDX header"),
])
def test_broken_idx_files_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(UserInputError, match=message):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserInputError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
def test_gzipped_files_in_either_layout(tmp_path: Path, no_system_files: None, layout: str) -> None:
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision" else tmp_path
    arrays = _write_split_files(folder, gz=True)
    ds = load_dataset("fashion_mnist", root=str(tmp_path))
    assert ds.x_train.shape == (50, 1, 28, 28) and ds.x_test.shape == (20, 1, 28, 28)
    assert ds.y_train.tolist() == arrays["train"][1].tolist()
    assert ds.class_names[0] == "T-shirt/top" and ds.options["files"] == str(folder)
    restored = ds.to_display(ds.x_train[:3])[..., 0]
    assert np.abs(restored.astype(int) - arrays["train"][0][:3]).max() <= 1, "normalisation is undone exactly"


def test_the_system_folder_is_used_in_place_when_no_root_is_given(tmp_path: Path, monkeypatch) -> None:
    system = tmp_path / "usr-share"
    _write_split_files(system, gz=True, n_train=40, n_test=10, seed=3)
    monkeypatch.setattr(torchvision_sets, "SYSTEM_FOLDERS", {"fashion_mnist": (system, "dataset-fashion-mnist")})
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "empty-data-folder"))
    ds = load_dataset("fashion_mnist", max_train=20, seed=1)
    assert ds.options["files"] == str(system) and len(ds.y_train) == 20
    assert torch.bincount(ds.y_train).tolist() == [2] * 10, "stratified subset"
    assert not (tmp_path / "empty-data-folder").exists(), "nothing is copied"


def test_missing_files_say_how_to_get_them(tmp_path: Path, monkeypatch, no_system_files: None) -> None:
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "data"))
    with pytest.raises(UserInputError, match=r"apt-get install dataset-fashion-mnist.*UNLEARN_DATA"):
        load_dataset("fashion_mnist", max_train=11)


@pytest.mark.skipif(not (DEBIAN_FOLDER / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
def test_real_fashion_mnist_subset(tmp_path: Path) -> None:
    """2,000 official training images, stratified, read from the Debian files; the flattened-head CNN's default
    recipe (fewer epochs) learns them through the Lab, which records train and test accuracy for the model card."""
    from dataclasses import replace

    from unlearn_core.data import ForgetSpec, select_forget
    from unlearn_core.experiment import ExperimentSpec, Lab
    from unlearn_core.models.training import default_recipe
    from unlearn_core.store import Store

    ds = load_dataset("fashion_mnist", max_train=2000, max_test=1000)
    assert ds.options["files"] == str(DEBIAN_FOLDER) and ds.x_train.shape == (2000, 1, 28, 28)
    assert torch.bincount(ds.y_train).tolist() == [200] * 10 and torch.bincount(ds.y_test).tolist() == [100] * 10
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3
    assert len(select_forget(ForgetSpec(classes=(9,)), ds)) == 200
    recipe = replace(default_recipe("fashion_mnist", "cnn_flat"), epochs=2)
    spec = ExperimentSpec("fashion_mnist", "cnn_flat", 0, recipe, (("max_test", 1000), ("max_train", 2000)))
    base = Lab(Store(tmp_path / "ws"), device="cpu").base_model(spec)
    assert base.meta["test_acc"] > 0.5 and base.meta["train_acc"] > 0.5, base.meta  # chance is 0.1
