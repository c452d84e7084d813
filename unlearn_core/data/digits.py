"""scikit-learn's handwritten digits: the embedded default (1,797 8x8 images, works offline)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from unlearn_core.data.base import DatasetInfo, ImageDataset, normalise, register_dataset

TEST_SIZE = 397  # a fixed 1,400 / 397 split
SPLIT_SEED = 0


@register_dataset(
    DatasetInfo(
        name="digits",
        title="Handwritten digits (scikit-learn)",
        description="1,797 grey 8x8 digits shipped with scikit-learn; fixed stratified 1,400/397 split.",
        needs_files=False,
    )
)
def load_digits_dataset() -> ImageDataset:
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_SIZE, stratify=labels, random_state=SPLIT_SEED
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    x_train, x_test, mean, std = normalise(x[train_idx], x[test_idx])
    return ImageDataset(
        name="digits",
        x_train=x_train,
        y_train=y[train_idx],
        x_test=x_test,
        y_test=y[test_idx],
        class_names=[str(i) for i in range(10)],
        mean=mean,
        std=std,
    )
