"""Metric metadata: every reported key declares its direction and range."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    key: str
    title: str
    description: str
    higher_is_better: bool | None  # None: closer to the retrain oracle is better
    lower: float = 0.0
    upper: float | None = 1.0  # None: unbounded above
    per_class: bool = False  # a list (one value per class) instead of a scalar
    compare_to_retrain: bool = True  # shown with its gap to retrain


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(info: MetricInfo) -> MetricInfo:
    return METRICS.register(info.key)(info)


def list_metrics() -> list[str]:
    return METRICS.names()


def metric_info(key: str) -> MetricInfo:
    return METRICS.get(key)


for _info in [
    MetricInfo("forget_acc", "Forget accuracy", "Accuracy on the training images being forgotten.", None),
    MetricInfo("retain_acc", "Retain accuracy", "Accuracy on the training images kept.", True),
    MetricInfo("test_acc", "Test accuracy", "Accuracy on the whole test set.", True),
    MetricInfo("test_acc_forget_classes", "Test acc., forgotten classes",
               "Test accuracy on the classes being forgotten (class scenarios; equals test_acc when no "
               "class is wholly forgotten).", None),
    MetricInfo("test_acc_retain_classes", "Test acc., kept classes",
               "Test accuracy on the classes kept (all classes when none is wholly forgotten).", True),
    MetricInfo("per_class_acc", "Per-class test accuracy", "Test accuracy of every class.", None, per_class=True),
    MetricInfo("mia_efficacy", "MIA efficacy (SVC)",
               "SalUn's attack: an RBF SVC (C=3, gamma='auto') trained on the confidence of retain "
               "(member) and test (non-member) images, as many of each (the first n, at most 2,000); the share "
               "of forget images it calls non-member.", None),
    MetricInfo("mia_loss_auc", "Loss-attack AUC",
               "Logistic regression on per-sample loss telling forget images from test images, "
               "cross-validated ROC AUC; 0.5 means the attacker cannot tell them apart.", None),
    MetricInfo("avg_gap", "Average gap to retrain",
               "Mean absolute difference to the retrain oracle over forget_acc, retain_acc, the kept-class "
               "test accuracy (the whole test set outside class scenarios) and mia_efficacy (SalUn's Avg. Gap, "
               "as a fraction).", False, compare_to_retrain=False),
    MetricInfo("changed_params", "Changed parameters", "Parameters whose value differs from the original.",
               None, upper=None, compare_to_retrain=False),
    MetricInfo("changed_fraction", "Changed fraction", "changed_params divided by the parameter count.",
               None, compare_to_retrain=False),
    MetricInfo("seconds", "Run time (s)", "Wall time of the unlearning itself.", False, upper=None,
               compare_to_retrain=False),
]:
    register_metric(_info)
