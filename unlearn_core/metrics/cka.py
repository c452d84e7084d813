"""Representation similarity: linear CKA per layer, and a 2-D embedding of penultimate features.

Linear CKA (Kornblith et al., ICML 2019) between activations X (n x p) and Y (n x q) of the same n inputs:
    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F),   Xc, Yc column-centred.
It is 1 for identical representations and invariant to orthogonal transforms and isotropic scaling, so two
models whose layers encode the same geometry score near 1 even when their neurons are permuted. We compute
it through the n x n Gram matrices (same value, cheaper when a conv layer has thousands of features).

`cka_report` compares the unlearned model's every conv/linear module with the original and with the
retrain oracle, separately on forget and retain samples (Unlearning Comparator's layer-wise similarity
view, peers.md 3.7). A layer that still matches the original on forget samples still holds what the
original knew about them.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from unlearn_core.analysis.embedding import embed_2d
from unlearn_core.analysis.embedding import features as penultimate
from unlearn_core.data import Splits
from unlearn_core.device import eval_batch_size
from unlearn_core.metrics.evaluate import REFERENCES, splits_key


def centred_gram(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Xc Xc^T for the column-centred rows of x (float64 result; the product runs in x's precision, float64
    for float64 input)."""
    x = torch.as_tensor(x)
    x = x.reshape(len(x), -1)
    x = x.double() if x.dtype == torch.float64 else x.float()
    x = x - x.mean(0, keepdim=True)
    return (x @ x.T).double()


def linear_cka(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Linear CKA between two representations of the same samples (rows); extra dims are flattened.

    Returns 0.0 when either representation is constant (CKA is undefined there; a dead layer shares no
    structure with anything)."""
    return cka_from_grams(centred_gram(x), centred_gram(y))


def cka_from_grams(gx: torch.Tensor, gy: torch.Tensor) -> float:
    """Linear CKA from two centred Gram matrices: <Gx, Gy>_F / (||Gx||_F ||Gy||_F)."""
    denom = gx.norm() * gy.norm()
    if denom.item() <= 1e-30:
        return 0.0
    return min(1.0, float((gx * gy).sum() / denom))  # rounding can overshoot 1 by 1e-15


def similarity_layers(model: nn.Module) -> list[str]:
    """Names of the modules whose outputs CKA compares: every Conv2d and Linear, in forward order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@torch.inference_mode()
def layer_activations(model: nn.Module, x: torch.Tensor, layers: list[str], batch_size: int | None = None
                      ) -> dict[str, torch.Tensor]:
    """Outputs of the named modules on x (flattened per sample, on the CPU), captured by forward hooks.

    The hooks go on a private copy: the original and retrain models are shared between concurrent runs, and a
    hook on a shared module would also capture (and race with) another thread's forward passes."""
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    for name in layers:
        modules[name].register_forward_hook(
            lambda _m, _inp, out, name=name: captured[name].append(out.detach().flatten(1).float().cpu()))
    batch_size = batch_size or eval_batch_size(x.device)
    for start in range(0, len(x), batch_size):
        model(x[start : start + batch_size])
    return {name: torch.cat(chunks) for name, chunks in captured.items()}


def layer_cka(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Linear CKA of each conv/linear module of model_a against the same-named module of model_b."""
    layers = similarity_layers(model_a)
    acts_a = layer_activations(model_a, x, layers)
    acts_b = layer_activations(model_b, x, layers)
    return {name: linear_cka(acts_a[name], acts_b[name]) for name in layers}


def sample_retain(splits: Splits, count: int, seed: int) -> torch.Tensor:
    """A seeded subset of retain-set positions (indices into splits.retain()) of at most `count` samples."""
    n = len(splits.retain_idx)
    gen = torch.Generator().manual_seed(seed + 4241)
    return torch.randperm(n, generator=gen)[: min(count, n)]


def cka_report(unlearned: nn.Module, original: nn.Module, retrain: nn.Module, splits: Splits, seed: int = 0,
               max_samples: int = 256) -> dict:
    """Per-layer CKA of the unlearned model vs the original and vs retrain, on forget and retain samples.

    Schema: {"layers": [names], "samples": {"forget": n, "retain": n},
             "vs_original": {"forget": [cka per layer], "retain": [...]}, "vs_retrain": {...}}.
    Forget and retain samples are capped at `max_samples` each (seeded subsets) to keep evaluation cheap.
    A side with fewer than 2 samples is omitted (CKA needs a spread)."""
    xf, _ = splits.forget()
    if len(xf) > max_samples:
        gen = torch.Generator().manual_seed(seed + 4243)
        xf = xf[torch.randperm(len(xf), generator=gen)[:max_samples].to(xf.device)]
    xr, _ = splits.retain()
    xr = xr[sample_retain(splits, max_samples, seed).to(xr.device)]
    layers = similarity_layers(unlearned)
    report: dict = {"layers": layers, "samples": {}, "vs_original": {}, "vs_retrain": {}}
    for side, x in (("forget", xf), ("retain", xr)):
        if len(x) < 2:
            continue
        report["samples"][side] = len(x)
        # one Gram matrix per model and layer, reused by both comparisons; the references' are computed once
        # per (model, data) and reused by every run compared with them
        def model_grams(m: nn.Module, x: torch.Tensor = x) -> dict[str, torch.Tensor]:
            return {name: centred_gram(a) for name, a in layer_activations(m, x, layers).items()}

        grams = {"unlearned": model_grams(unlearned)}
        for role, m in (("original", original), ("retrain", retrain)):
            key = ("cka_grams", splits_key(splits), side, seed, max_samples, tuple(layers))
            grams[role] = REFERENCES.get(m, key, lambda m=m: model_grams(m))
        for key, role in (("vs_original", "original"), ("vs_retrain", "retrain")):
            report[key][side] = [cka_from_grams(grams["unlearned"][name], grams[role][name]) for name in layers]
    return report


def embedding_links(original: nn.Module, unlearned: nn.Module, splits: Splits, method: str = "pca",
                    seed: int = 0, retain_samples: int = 300, forget_samples: int = 200) -> dict:
    """Joint 2-D embedding of original and unlearned penultimate features, for a link from each forget
    sample's original position to its unlearned one.

    Both models' features are embedded together (one PCA / t-SNE fit over the stacked rows) so positions are
    comparable: the unlearned model is an edit of the original, so its penultimate units keep their meaning.
    Schema: {"method", "original": (n, 2) array, "unlearned": (n, 2) array, "labels": (n,), "is_forget":
    (n,) bool, "train_index": (n,) indices into the training set}."""
    gen = torch.Generator().manual_seed(seed + 4247)
    forget_pos = torch.randperm(len(splits.forget_idx), generator=gen)[:forget_samples]
    retain_pos = sample_retain(splits, retain_samples, seed)
    index = torch.cat([splits.forget_idx[forget_pos], splits.retain_idx[retain_pos]])
    x_all, y_all = splits.train()
    x = x_all[index.to(x_all.device)]
    feats = np.concatenate([penultimate(original, x), penultimate(unlearned, x)])
    coords = embed_2d(feats, method, seed)
    n = len(index)
    return {"method": method, "original": coords[:n], "unlearned": coords[n:],
            "labels": y_all[index.to(y_all.device)].cpu().numpy(),
            "is_forget": np.arange(n) < len(forget_pos), "train_index": index.numpy()}
