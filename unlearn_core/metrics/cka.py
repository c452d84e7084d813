"""Representation similarity: linear CKA per layer, and a 2-D embedding of penultimate features.

Linear CKA (Kornblith et al., ICML 2019) between activations X (n x p) and Y (n x q) of the same n inputs:
    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F),   Xc, Yc column-centred.
It is 1 for identical representations and invariant to orthogonal transforms and isotropic scaling, so two
models whose layers encode the same geometry score near 1 even when their neurons are permuted. We compute
it through the n x n Gram matrices (same value, cheaper when a conv layer has thousands of features).

`cka_report` compares the unlearned model's conv/linear modules with the original and with the retrain
oracle, separately on forget and retain samples (Unlearning Comparator's layer-wise similarity view,
peers.md 3.7). A layer that still matches the original on forget samples still holds what the original knew
about them.

Its cost is bounded on deep models (benchmarks/cka_layers.md measures it): at most `CKA_MAX_LAYERS` layers,
evenly spaced in forward order with the first and the last always in (every layer of a model that has no
more), on seeded samples of at most 256 forget and 256 retain images; and each layer's Gram matrix is taken
in a forward hook as the layer runs, so memory holds n x n per layer instead of every layer's activations at
once (n x features, which on a 121-layer DenseNet is hundreds of MB even at 32x32 pixels). The report
states the sample (`layers_total`, `layer_sample`) and the figure shows it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from unlearn_core.analysis.embedding import embed_2d
from unlearn_core.analysis.embedding import features as penultimate
from unlearn_core.data import Splits
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


# 24 evenly spaced layers follow a ResNet-50's or a DenseNet-121's trend at a fraction of the cost, and stay
# readable as one line per reference on the figure's x axis
CKA_MAX_LAYERS = 24


COMPARED_MODULES = (nn.Conv2d, nn.Linear, nn.MultiheadAttention)


def _output_tensor(out: torch.Tensor | tuple) -> torch.Tensor:
    """A module's output as one tensor: nn.MultiheadAttention returns (attention output, weights)."""
    return out[0] if isinstance(out, tuple) else out


@torch.inference_mode()
def similarity_layers(model: nn.Module, probe: torch.Tensor) -> list[str]:
    """Names of the modules whose outputs CKA compares: every Conv2d, Linear and MultiheadAttention module that
    runs when the model sees `probe` (one image suffices), in registration order.

    Attention layers apply their projections' weights inside their own forward (nn.MultiheadAttention's
    `out_proj`, Swin's `qkv` and `proj`), so those Linear modules never run: they have no output to compare, and
    MultiheadAttention's own output (that of its `out_proj`) stands for them. The hooks go on a private copy."""
    model = copy.deepcopy(model).eval()
    ran: set[str] = set()
    for name, module in model.named_modules():
        if isinstance(module, COMPARED_MODULES):
            module.register_forward_hook(lambda _m, _inp, _out, name=name: ran.add(name))
    model(probe)
    return [name for name, _ in model.named_modules() if name in ran]


def sample_layers(layers: list[str], max_layers: int | None) -> list[str]:
    """At most `max_layers` of `layers`, evenly spaced, the first and the last always in (all of them when there
    are no more than `max_layers`, or when it is None)."""
    if max_layers is None or len(layers) <= max_layers:
        return list(layers)
    if max_layers < 2:
        raise ValueError("a layer sample needs at least the first and the last layer")
    positions = np.unique(np.linspace(0, len(layers) - 1, max_layers).round().astype(int))
    return [layers[i] for i in positions]


def layer_sample_note(shown: int, total: int) -> str:
    """The layer sample in words, for the report and the figure."""
    if shown >= total:
        return f"all {total} conv/linear/attention layers"
    return f"{shown} of {total} conv/linear/attention layers, evenly spaced in forward order (first and last included)"


@torch.inference_mode()
def layer_grams(model: nn.Module, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
    """The centred Gram matrix (`centred_gram`) of each named module's output on x, taken by a forward hook as
    the module runs, so only one layer's activations exist at a time. x runs as one batch: centring needs every
    sample of a layer together (callers pass a capped sample). The hooks go on a private copy: the original and
    retrain models are shared between concurrent runs, and a hook on a shared module would also capture (and race
    with) another thread's forward passes. A module that runs twice in one forward keeps its first output."""
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    grams: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable:
        def take(_m: nn.Module, _inp: tuple, out: torch.Tensor | tuple) -> None:
            if name not in grams:
                grams[name] = centred_gram(_output_tensor(out).detach().flatten(1).float().cpu())

        return take

    for name in layers:
        modules[name].register_forward_hook(hook(name))
    model(x)
    return {name: grams[name] for name in layers}


def layer_cka(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Linear CKA of each compared module (`similarity_layers`) of model_a against the same-named module of
    model_b, on x as one batch."""
    layers = similarity_layers(model_a, x[:1])
    grams_a, grams_b = layer_grams(model_a, x, layers), layer_grams(model_b, x, layers)
    return {name: cka_from_grams(grams_a[name], grams_b[name]) for name in layers}


def sample_retain(splits: Splits, count: int, seed: int) -> torch.Tensor:
    """A seeded subset of retain-set positions (indices into splits.retain()) of at most `count` samples."""
    n = len(splits.retain_idx)
    gen = torch.Generator().manual_seed(seed + 4241)
    return torch.randperm(n, generator=gen)[: min(count, n)]


def cka_report(unlearned: nn.Module, original: nn.Module, retrain: nn.Module, splits: Splits, seed: int = 0,
               max_samples: int = 256, max_layers: int | None = CKA_MAX_LAYERS) -> dict:
    """Per-layer CKA of the unlearned model vs the original and vs retrain, on forget and retain samples.

    Schema: {"layers": [names], "layers_total": int, "layer_sample": str, "samples": {"forget": n, "retain": n},
             "vs_original": {"forget": [cka per layer], "retain": [...]}, "vs_retrain": {...}}.
    Forget and retain samples are capped at `max_samples` each (seeded subsets) and the layers at `max_layers`
    (`sample_layers`; None compares every layer) to keep evaluation cheap. A side with fewer than 2 samples is
    omitted (CKA needs a spread)."""
    xf, _ = splits.forget()
    if len(xf) > max_samples:
        gen = torch.Generator().manual_seed(seed + 4243)
        xf = xf[torch.randperm(len(xf), generator=gen)[:max_samples].to(xf.device)]
    xr, _ = splits.retain()
    xr = xr[sample_retain(splits, max_samples, seed).to(xr.device)]
    every_layer = similarity_layers(unlearned, xf[:1] if len(xf) else xr[:1])
    layers = sample_layers(every_layer, max_layers)
    report: dict = {"layers": layers, "layers_total": len(every_layer),
                    "layer_sample": layer_sample_note(len(layers), len(every_layer)),
                    "samples": {}, "vs_original": {}, "vs_retrain": {}}
    for side, x in (("forget", xf), ("retain", xr)):
        if len(x) < 2:
            continue
        report["samples"][side] = len(x)
        # one Gram matrix per model and layer, reused by both comparisons; the references' are computed once
        # per (model, data) and reused by every run compared with them
        grams = {"unlearned": layer_grams(unlearned, x, layers)}
        for role, m in (("original", original), ("retrain", retrain)):
            key = ("cka_grams", splits_key(splits), side, seed, max_samples, tuple(layers))
            grams[role] = REFERENCES.get(m, key, lambda m=m, x=x: layer_grams(m, x, layers))
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
