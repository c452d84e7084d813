"""Analyses the dashboard and report draw: embeddings of penultimate features and input attributions."""

from unlearn_core.analysis.attributions import ATTRIBUTION_METHODS, attribute
from unlearn_core.analysis.embedding import embed_features

__all__ = ["ATTRIBUTION_METHODS", "attribute", "embed_features"]
