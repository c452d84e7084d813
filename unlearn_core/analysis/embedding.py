"""2-D embeddings of a model's penultimate features (for lasso selection of images to forget)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from unlearn_core.device import eval_batch_size
from unlearn_core.models.architectures import penultimate_features

EMBEDDINGS = ("pca", "tsne")


@torch.inference_mode()
def features(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> np.ndarray:
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


def embed_features(model: nn.Module, x: torch.Tensor, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates of the penultimate features of `x`; PCA is instant, t-SNE shows clusters better."""
    if method not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {method!r}")
    feats = features(model, x)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(feats)
    from sklearn.manifold import TSNE

    # PCA to 50 dimensions first, as usual for t-SNE, to keep it quick on 2 CPU cores
    if feats.shape[1] > 50:
        from sklearn.decomposition import PCA

        feats = PCA(n_components=50, random_state=seed).fit_transform(feats)
    perplexity = float(min(30, max(5, (len(feats) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)
