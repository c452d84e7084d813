"""Accuracy family: plain functions of predictions and labels."""

from __future__ import annotations

import torch


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of correct predictions; NaN for an empty set."""
    if target.numel() == 0:
        return float("nan")
    return (pred == target).float().mean().item()


def per_class_accuracy(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> list[float]:
    """Accuracy of each class (NaN for a class with no samples)."""
    correct = torch.bincount(target[pred == target], minlength=num_classes).float()
    total = torch.bincount(target, minlength=num_classes).float()
    acc = correct / total
    return [float(v) for v in acc]


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> list[list[int]]:
    """Rows are true classes, columns predicted classes."""
    flat = target * num_classes + pred
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).tolist()
