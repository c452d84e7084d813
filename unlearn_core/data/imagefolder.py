"""A user's folder of class sub-folders (root/<class>/<image>), resized to a square."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import train_test_split

from unlearn_core import UserInputError, validation
from unlearn_core.data.base import DatasetInfo, ImageDataset, normalise, register_dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@register_dataset(
    DatasetInfo(
        name="imagefolder",
        title="Your image folder",
        description="root/<class name>/<images>; images resized to `image_size` pixels, seeded stratified "
        "train/test split. Files that are not images are skipped and listed.",
        needs_files=True,
        default_options=(("root", None), ("image_size", 32), ("grayscale", False), ("test_fraction", 0.2),
                         ("seed", 0)),
    )
)
def load_imagefolder(
    root: str | None = None,
    image_size: int = 32,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> ImageDataset:
    folder = validation.image_folder(root, image_size, 1 if grayscale else 3)
    mode = "L" if grayscale else "RGB"
    per_class: dict[str, list[np.ndarray]] = {}
    skipped: list[str] = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(class_dir.iterdir()):
            if not path.is_file():
                continue
            try:
                with Image.open(path) as img:  # reads the header only: the size is known before decoding
                    problem = validation.image_problem(path, *img.size)
                    if problem:
                        skipped.append(f"{path.relative_to(folder)} ({problem})")
                        continue
                    img = img.convert(mode).resize((image_size, image_size), Image.BILINEAR)
                    per_class.setdefault(class_dir.name, []).append(np.asarray(img, dtype=np.float32) / 255.0)
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
                skipped.append(str(path.relative_to(folder)))
    if len(per_class) < 2:
        raise UserInputError(
            f"{folder} needs at least two class sub-folders containing images; found {len(per_class)}"
            + (f" (skipped {len(skipped)} files that are not images)" if skipped else "")
        )
    validation.split_sizes({name: len(v) for name, v in per_class.items()}, test_fraction, str(folder))
    class_names = list(per_class)
    images = [img for name in class_names for img in per_class[name]]
    labels = [label for label, name in enumerate(class_names) for _ in per_class[name]]
    arr = np.stack(images)
    arr = arr[:, None] if grayscale else arr.transpose(0, 3, 1, 2)
    y = np.asarray(labels)
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=float(test_fraction), stratify=y, random_state=seed
    )
    x = torch.from_numpy(np.ascontiguousarray(arr))
    x_train, x_test, mean, std = normalise(x[np.sort(train_idx)], x[np.sort(test_idx)])
    return ImageDataset(
        name="imagefolder",
        x_train=x_train,
        y_train=torch.from_numpy(y[np.sort(train_idx)]),
        x_test=x_test,
        y_test=torch.from_numpy(y[np.sort(test_idx)]),
        class_names=class_names,
        mean=mean,
        std=std,
        options={"root": str(folder), "image_size": image_size, "grayscale": grayscale,
                 "test_fraction": float(test_fraction), "seed": seed, "skipped_files": skipped},
    )
