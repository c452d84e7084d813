"""2-D embeddings of a model's penultimate features (lasso selection of images to forget, forget-quality links)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from unlearn_core.device import eval_batch_size
from unlearn_core.models.architectures import penultimate_features

EMBEDDINGS = ("pca", "tsne")


@torch.inference_mode()
def features(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
    """(N, D) penultimate features of `x`, computed in batches in eval mode (the model's mode is restored)."""
    batch_size = batch_size or eval_batch_size(x.device)
    was_training = model.training
    model.eval()
    out = [penultimate_features(model, x[i : i + batch_size]).flatten(1).float().cpu()
           for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


# Above this many training images the embedding is computed on a seeded, class-stratified sample: a scatter of 60k
# points chokes the browser and t-SNE on them would take an hour on two CPU cores.
EMBEDDING_SAMPLE = 3000


def embedding_sample(y: torch.Tensor, seed: int = 0, limit: int = EMBEDDING_SAMPLE) -> np.ndarray:
    """Training indices to embed: all of them up to `limit`, else a seeded stratified sample of `limit` (sorted)."""
    from unlearn_core.data.base import stratified_subset

    return stratified_subset(y.cpu(), limit, seed).numpy()


def embed_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the rows of `features`: PCA (exact SVD of the centred rows, instant) or t-SNE
    (sklearn, seeded; shows clusters better). The one 2-D embedding of the engine: the Forget set page's lasso map
    and the Forget quality page's original-to-unlearned links both use it.

    Args:
        features: (N, D) rows, one per image.
        method: "pca" or "tsne".
        seed: t-SNE's random state (PCA is deterministic).

    """
    if method not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {method!r}")
    features = np.asarray(features, dtype=np.float64)
    if method == "pca":
        return _pca(features, 2)
    from sklearn.manifold import TSNE

    if features.shape[1] > 50:  # PCA to 50 dimensions first, as usual for t-SNE, to keep it quick on 2 CPU cores
        features = _pca(features, 50)
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def _pca(features: np.ndarray, dims: int) -> np.ndarray:
    centred = features - features.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:dims].T
    if coords.shape[1] < dims:  # fewer features than dimensions asked: pad with zeros
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    return coords


def embed_features(model: nn.Module, x: torch.Tensor, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the penultimate features of `x` (see `embed_2d`)."""
    return embed_2d(features(model, x), method, seed)
