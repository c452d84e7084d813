"""A user's folder of class sub-folders (root/<class>/<image>), resized to a square.

Decoding and resizing tens of thousands of images takes minutes, so the first load writes the resized images
(uint8, exactly what decoding gives) to a cache file under the data folder; later loads read that file in
seconds. The cache is keyed by the folder, the size, the colour mode and every file's path, size and
modification time, so adding, removing or editing an image rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import train_test_split

from unlearn_core import UserInputError, validation
from unlearn_core.data.base import DatasetInfo, ImageDataset, data_root, normalise, register_dataset, report_loading

CACHE_VERSION = 1


@register_dataset(
    DatasetInfo(
        name="imagefolder",
        title="Your image folder",
        description="root/<class name>/<images>; images resized to `image_size` pixels, seeded stratified "
        "train/test split. Files that are not images are skipped and listed. The resized images are cached once "
        "(cache=false to skip), so a large folder loads in seconds the next time.",
        needs_files=True,
        default_options=(("root", None), ("image_size", 32), ("grayscale", False), ("test_fraction", 0.2),
                         ("seed", 0), ("cache", True)),
    )
)
def load_imagefolder(
    root: str | None = None,
    image_size: int = 32,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    cache: bool = True,
) -> ImageDataset:
    folder = validation.image_folder(root, int(image_size), 1 if grayscale else 3)
    files = _list_files(folder)
    cache_path = _cache_path(folder, files, int(image_size), bool(grayscale)) if cache else None
    loaded = _read_cache(cache_path) if cache_path is not None else None
    if loaded is None:
        loaded = _decode_all(folder, files, int(image_size), bool(grayscale))
        if cache_path is not None:
            _write_cache(cache_path, *loaded)
    images, labels, class_names, skipped = loaded
    if len(class_names) < 2:
        raise UserInputError(
            f"{folder} needs at least two class sub-folders containing images; found {len(class_names)}"
            + (f" (skipped {len(skipped)} files that are not images)" if skipped else "")
        )
    counts = np.bincount(labels, minlength=len(class_names))
    validation.split_sizes(dict(zip(class_names, counts.tolist(), strict=True)), float(test_fraction), str(folder))
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=float(test_fraction), stratify=labels, random_state=seed
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    x = torch.from_numpy(images)
    x_train, x_test, mean, std = normalise(x[train_idx].float() / 255.0, x[test_idx].float() / 255.0)
    return ImageDataset(
        name="imagefolder",
        x_train=x_train,
        y_train=torch.from_numpy(labels[train_idx]),
        x_test=x_test,
        y_test=torch.from_numpy(labels[test_idx]),
        class_names=class_names,
        mean=mean,
        std=std,
        options={"root": str(folder), "image_size": image_size, "grayscale": grayscale,
                 "test_fraction": float(test_fraction), "seed": seed, "skipped_files": skipped,
                 "cache_file": str(cache_path) if cache_path is not None else None},
    )


def _list_files(folder: Path) -> list[tuple[str, Path]]:
    """(class name, file) for every file in a class sub-folder, in sorted order."""
    return [(class_dir.name, path)
            for class_dir in sorted(p for p in folder.iterdir() if p.is_dir())
            for path in sorted(class_dir.iterdir()) if path.is_file()]


def _decode(path: Path, mode: str, image_size: int) -> np.ndarray | None:
    """One image as uint8 (H, W[, C]) resized to a square, or None when the file is not an image or one too
    large to decode safely (validation.image_problem: a decompression bomb is refused from its header)."""
    try:
        with Image.open(path) as img:  # reads the header only: the size is known before decoding
            if validation.image_problem(path, *img.size):
                return None
            return np.asarray(img.convert(mode).resize((image_size, image_size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None


def _decode_all(folder: Path, files: list[tuple[str, Path]], image_size: int, grayscale: bool
                ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Decodes every file (threads: Pillow releases the GIL while it decodes), reporting progress."""
    mode = "L" if grayscale else "RGB"
    decoded: list[np.ndarray | None] = []
    step = max(1, len(files) // 50)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, image in enumerate(pool.map(lambda f: _decode(f[1], mode, image_size), files)):
            decoded.append(image)
            if (i + 1) % step == 0 or i + 1 == len(files):
                report_loading((i + 1) / len(files), f"decoding {folder.name}: {i + 1}/{len(files)} images")
    class_names = sorted({name for (name, _), image in zip(files, decoded, strict=True) if image is not None})
    index = {name: i for i, name in enumerate(class_names)}
    kept = [(index[name], image) for (name, _), image in zip(files, decoded, strict=True) if image is not None]
    skipped = [str(path.relative_to(folder)) for (_, path), image in zip(files, decoded, strict=True)
               if image is None]
    if not kept:
        return np.zeros((0, 1 if grayscale else 3, image_size, image_size), np.uint8), np.zeros(0, np.int64), \
            class_names, skipped
    arr = np.stack([image for _, image in kept])
    arr = arr[:, None] if grayscale else arr.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(arr), np.asarray([label for label, _ in kept], dtype=np.int64), class_names, skipped


def _cache_path(folder: Path, files: list[tuple[str, Path]], image_size: int, grayscale: bool) -> Path:
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_VERSION, str(folder.resolve()), image_size, grayscale]).encode())
    for name, path in files:
        stat = path.stat()
        digest.update(f"{name}/{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return data_root() / "imagefolder_cache" / f"{digest.hexdigest()[:24]}.safetensors"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]] | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads(fh.metadata()["unlearn"])
            return fh.get_tensor("images"), fh.get_tensor("labels"), meta["class_names"], meta["skipped"]
    except (OSError, KeyError, ValueError, json.JSONDecodeError):
        return None  # a damaged cache is rebuilt, never trusted


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray, class_names: list[str],
                 skipped: list[str]) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_file({"images": images, "labels": labels}, str(tmp),
                  metadata={"unlearn": json.dumps({"class_names": class_names, "skipped": skipped})})
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # no cache (read-only or full disk): the next load decodes again
