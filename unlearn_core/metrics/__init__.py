"""Metrics: accuracy family, membership-inference attacks, weight change, gap to retrain."""

from unlearn_core.metrics.evaluate import GAP_KEYS, Outputs, add_gaps, compute_metrics, model_outputs
from unlearn_core.metrics.registry import METRICS, MetricInfo, list_metrics, metric_info, register_metric

__all__ = [
    "GAP_KEYS",
    "METRICS",
    "MetricInfo",
    "Outputs",
    "add_gaps",
    "compute_metrics",
    "list_metrics",
    "metric_info",
    "model_outputs",
    "register_metric",
]
