"""Procedural RGB 32x32 shapes: CIFAR-sized work that runs offline at any size.

Each image draws one of ten shapes with a random colour, position, scale and rotation on a random
background, plus pixel noise. Generation is vectorised and fully determined by the seed.
"""

from __future__ import annotations

import numpy as np
import torch

from unlearn_core import UserInputError, validation
from unlearn_core.data.base import DatasetInfo, ImageDataset, normalise, register_dataset

SHAPE_NAMES = ["circle", "square", "triangle", "plus", "ring", "diamond", "star", "hexagon", "bar", "crescent"]
IMAGE_SIZE = 32
_CHUNK = 2048


def _shape_masks(kind: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean masks (B, H, W) of each image's shape in its own rotated, scaled coordinates."""
    r = np.sqrt(u**2 + v**2)
    phi = np.arctan2(v, u)
    au, av = np.abs(u), np.abs(v)
    masks = {
        0: r <= 1.0,
        1: np.maximum(au, av) <= 0.8,
        2: (v >= -0.55) & (v <= 0.95 - 1.6 * au),
        3: ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0)),
        4: (r >= 0.55) & (r <= 1.0),
        5: au + av <= 1.0,
        6: r <= 0.55 + 0.45 * np.cos(5 * phi),
        7: np.maximum(au * 0.866 + av * 0.5, av) <= 0.85,
        8: (au <= 1.0) & (av <= 0.32),
        9: (r <= 1.0) & (np.sqrt((u - 0.45) ** 2 + v**2) > 0.75),
    }
    out = np.zeros(u.shape, dtype=bool)
    for k, mask in masks.items():
        sel = kind == k
        out[sel] = mask[sel]
    return out


def generate_shapes(n: int, seed: int, label_noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """N images (n, 3, 32, 32) in [0, 1] and labels; `label_noise` flips that share of labels at random."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPE_NAMES), size=n)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    grid = (np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5) / IMAGE_SIZE * 2 - 1
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    for start in range(0, n, _CHUNK):
        kind = labels[start : start + _CHUNK]
        b = len(kind)
        scale = rng.uniform(0.3, 0.6, size=(b, 1, 1)).astype(np.float32)
        cx = rng.uniform(-0.35, 0.35, size=(b, 1, 1)).astype(np.float32)
        cy = rng.uniform(-0.35, 0.35, size=(b, 1, 1)).astype(np.float32)
        theta = rng.uniform(0, 2 * np.pi, size=(b, 1, 1)).astype(np.float32)
        dx, dy = (gx[None] - cx) / scale, (gy[None] - cy) / scale
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        mask = _shape_masks(kind, u, v)[:, None]
        fg = rng.uniform(0, 1, size=(b, 3, 1, 1)).astype(np.float32)
        bg = rng.uniform(0, 1, size=(b, 3, 1, 1)).astype(np.float32)
        # keep the shape visible: push the background away from the foreground when they are close
        close = np.abs(fg - bg).mean(axis=1, keepdims=True) < 0.25
        bg = np.where(close, 1.0 - fg, bg)
        img = np.where(mask, fg, bg) + rng.normal(0, 0.06, size=(b, 3, IMAGE_SIZE, IMAGE_SIZE))
        images[start : start + b] = np.clip(img, 0, 1)
    if label_noise > 0:
        flip = rng.random(n) < label_noise
        labels = np.where(flip, rng.integers(0, len(SHAPE_NAMES), size=n), labels)
    return images, labels.astype(np.int64)


@register_dataset(
    DatasetInfo(
        name="shapes",
        title="Procedural shapes (RGB 32x32)",
        description="Ten shape classes with random colour, position, scale, rotation, background and noise; "
        "any size, generated offline from a seed. `label_noise` adds memorisation for random forgetting.",
        needs_files=False,
        default_options=(("n_train", 10000), ("n_test", 2000), ("label_noise", 0.0), ("seed", 0)),
    )
)
def load_shapes(n_train: int = 10000, n_test: int = 2000, label_noise: float = 0.0, seed: int = 0) -> ImageDataset:
    n_train, n_test = int(n_train), int(n_test)
    if n_train < 20 or n_test < 10:
        raise UserInputError("shapes needs at least 20 training and 10 test images")
    if not 0.0 <= float(label_noise) < 1.0:
        raise UserInputError(f"label_noise must be in [0, 1), got {label_noise}")
    # float32 images, about three copies at the peak (generation chunks, the array, the normalised tensor)
    validation.fits_in_memory(n_train + n_test, 3 * 4 * 3 * IMAGE_SIZE * IMAGE_SIZE, "shapes")
    x_tr, y_tr = generate_shapes(n_train, seed, float(label_noise))
    x_te, y_te = generate_shapes(n_test, seed + 1_000_003)  # test labels are always clean
    x_train, x_test, mean, std = normalise(torch.from_numpy(x_tr), torch.from_numpy(x_te))
    return ImageDataset(
        name="shapes",
        x_train=x_train,
        y_train=torch.from_numpy(y_tr),
        x_test=x_test,
        y_test=torch.from_numpy(y_te),
        class_names=list(SHAPE_NAMES),
        mean=mean,
        std=std,
        options={"n_train": n_train, "n_test": n_test, "label_noise": float(label_noise), "seed": seed},
    )
