"""Forget-set selection and the splits every method and metric works on."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property

import torch

from unlearn_core import UserInputError, validation
from unlearn_core.data.base import ImageDataset


@dataclass(frozen=True)
class ForgetSpec:
    """What to forget: whole classes, explicit training indices, a seeded random fraction, or a union."""

    classes: tuple[int, ...] = ()
    indices: tuple[int, ...] = ()
    random_fraction: float | None = None
    seed: int = 0

    @property
    def scenario(self) -> str:
        """'class', 'random', 'images' or 'mixed': methods declare which they support."""
        parts = [bool(self.classes), bool(self.indices), self.random_fraction is not None]
        if sum(parts) > 1:
            return "mixed"
        if self.classes:
            return "class"
        if self.random_fraction is not None:
            return "random"
        return "images"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ForgetSpec:
        """From JSON (a run config, a preset, the dashboard's session): every field type-checked."""
        data = validation.mapping(data, "forget")
        frac = data.get("random_fraction")
        return cls(
            classes=validation.int_list(data.get("classes", ()), "forget classes"),
            indices=validation.int_list(data.get("indices", ()), "forget indices"),
            random_fraction=None if frac is None else validation.finite_float(frac, "random fraction"),
            seed=validation.seed_value(data.get("seed", 0), "forget seed"),
        )

    @property
    def key(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self, class_names: list[str] | None = None) -> str:
        parts = []
        if self.classes:
            names = [class_names[c] if class_names else str(c) for c in self.classes]
            parts.append("class" + ("es " if len(names) > 1 else " ") + ", ".join(names))
        if self.indices:
            parts.append(f"{len(self.indices)} chosen image" + ("s" if len(self.indices) > 1 else ""))
        if self.random_fraction is not None:
            parts.append(f"random {self.random_fraction:.0%} (seed {self.seed})")
        return " + ".join(parts) if parts else "nothing"


def select_forget(spec: ForgetSpec, dataset: ImageDataset) -> torch.Tensor:
    """Sorted training indices to forget; raises UserInputError on any invalid request."""
    n, c = len(dataset.y_train), dataset.num_classes
    bad = [k for k in spec.classes if not 0 <= k < c]
    if bad:
        raise UserInputError(f"class {bad[0]} is out of range: {dataset.name} has classes 0..{c - 1}")
    if len(set(spec.classes)) != len(spec.classes):
        raise UserInputError("forget classes contain duplicates")
    if len(set(spec.classes)) >= c:
        raise UserInputError("cannot forget every class: nothing would be left to retain")
    if len(set(spec.indices)) != len(spec.indices):
        dup = next(i for i in spec.indices if spec.indices.count(i) > 1)
        raise UserInputError(f"forget index {dup} is listed more than once")
    bad = [i for i in spec.indices if not 0 <= i < n]
    if bad:
        raise UserInputError(f"forget index {bad[0]} is out of range: the training set has {n} images")
    chosen = torch.zeros(n, dtype=torch.bool)
    for k in spec.classes:
        chosen |= dataset.y_train == k
    if spec.indices:
        chosen[torch.tensor(spec.indices, dtype=torch.long)] = True
    if spec.random_fraction is not None:
        frac = spec.random_fraction
        if not (isinstance(frac, float | int) and math.isfinite(frac) and 0.0 < frac < 1.0):
            raise UserInputError(f"random fraction must be strictly between 0 and 1, got {frac}")
        count = max(1, round(frac * n))
        gen = torch.Generator().manual_seed(spec.seed)
        chosen[torch.randperm(n, generator=gen)[:count]] = True
    if not chosen.any():
        raise UserInputError("the forget set is empty: choose classes, images or a random fraction")
    if chosen.all():
        raise UserInputError("the forget set covers the whole training set: nothing would be retained")
    return torch.nonzero(chosen).flatten()


@dataclass
class Splits:
    """Forget / retain / test views of one dataset, moved to the working device on first use.

    Methods read data only through these accessors, so a method that must not touch training images
    (mnemonic codes) can be tested with a Splits whose accessors raise.
    """

    dataset: ImageDataset
    spec: ForgetSpec
    forget_idx: torch.Tensor
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @classmethod
    def build(cls, dataset: ImageDataset, spec: ForgetSpec, device: torch.device | str = "cpu") -> Splits:
        return cls(dataset, spec, select_forget(spec, dataset), torch.device(device))

    @property
    def scenario(self) -> str:
        return self.spec.scenario

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes

    @cached_property
    def retain_idx(self) -> torch.Tensor:
        mask = torch.ones(len(self.dataset.y_train), dtype=torch.bool)
        mask[self.forget_idx] = False
        return torch.nonzero(mask).flatten()

    @cached_property
    def forget_classes(self) -> tuple[int, ...]:
        """Classes whose every training image is forgotten (the 'forgotten classes' of the metrics)."""
        y = self.dataset.y_train
        in_forget = torch.bincount(y[self.forget_idx], minlength=self.num_classes)
        total = torch.bincount(y, minlength=self.num_classes)
        return tuple(int(k) for k in torch.nonzero((in_forget == total) & (total > 0)).flatten())

    @cached_property
    def _train_on_device(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.x_train.to(self.device), self.dataset.y_train.to(self.device)

    @cached_property
    def _test_on_device(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.x_test.to(self.device), self.dataset.y_test.to(self.device)

    def forget(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._train_on_device
        idx = self.forget_idx.to(self.device)
        return x[idx], y[idx]

    def retain(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._train_on_device
        idx = self.retain_idx.to(self.device)
        return x[idx], y[idx]

    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The full original training set (forget + retain), e.g. for SSD's importances."""
        return self._train_on_device

    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._test_on_device

    def test_class_mask(self) -> torch.Tensor:
        """True for test images whose class is wholly forgotten."""
        _, y = self._test_on_device
        mask = torch.zeros_like(y, dtype=torch.bool)
        for k in self.forget_classes:
            mask |= y == k
        return mask

    def test_forget(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._test_on_device
        mask = self.test_class_mask()
        return x[mask], y[mask]

    def test_retain(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._test_on_device
        mask = ~self.test_class_mask()
        return x[mask], y[mask]

    def summary(self) -> dict:
        counts = torch.bincount(self.dataset.y_train[self.forget_idx], minlength=self.num_classes)
        return {
            "scenario": self.scenario,
            "description": self.spec.describe(self.dataset.class_names),
            "forget_size": len(self.forget_idx),
            "retain_size": len(self.retain_idx),
            "test_size": len(self.dataset.y_test),
            "forget_classes": list(self.forget_classes),
            "forget_per_class": counts.tolist(),
        }
