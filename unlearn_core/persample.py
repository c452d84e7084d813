"""Per-sample gradients and per-sample log-probability Jacobians with `torch.func` (vmap), in memory-bounded chunks.

Several methods need one gradient per image, not the batch mean: Fisher forgetting (diagonal Fisher of the retain
set), mnemonic codes (one gradient per class code), and anything that weighs samples individually. A Python loop of
backward passes costs one forward+backward per sample; `vmap(grad(loss))` runs the same computation batched.

The vectorised functions here are checked against the plain loops `per_sample_grads_loop` and
`diagonal_fisher_loop` (tests/unit/test_per_sample_grads.py); `unlearn bench --scenario digits-cnn` records the
speed-up. All functions evaluate the model in eval mode (a per-sample gradient of a BatchNorm layer in training
mode would depend on the other samples of its batch) and restore the previous mode afterwards.

Chunks hold at most `max_floats` gradient entries at once (chunk size x parameter count, x classes for Jacobians),
so memory stays bounded on any device whatever the number of samples.

Where a layer's kernel has no vmap batching rule, functorch falls back to a Python loop over the batch for it (and
its backward) and warns "There is a performance drop ...": ViT's attention (the fused scaled-dot-product kernel) and
Swin's global average pool did. Inside the vectorised functions here those layers are computed by batchable
formulations of the same arithmetic (`_BatchableLayers`), so they are batched like every other layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap
from torch.overrides import TorchFunctionMode

# 20 million floats = 80 MB of gradients per chunk in fp32: small next to any device's memory, large enough
# that chunks of the digits CNN (53k parameters) hold hundreds of samples.
DEFAULT_MAX_FLOATS = 20_000_000

SampleProgress = Callable[[int, int], None]  # (samples done, samples total)


class _BatchableLayers(TorchFunctionMode):
    """While active, computes two layers by formulations whose every op has a vmap batching rule (same results up
    to float rounding):
    - nn.MultiheadAttention (ViT) asked for no attention weights calls `scaled_dot_product_attention`, a fused
      kernel without a batching rule; asked for them, `F.multi_head_attention_forward` computes the same attention
      explicitly (softmax(QK^T / sqrt(d) + mask) V with bmm and softmax), so it is asked for them and they are
      dropped. An active mode also turns MHA's inference fast path off (it refuses arguments with a torch-function
      override).
    - a global average pool (`adaptive_avg_pool2d` to 1x1, Swin's head after a permute) falls back to a loop over
      the batch on a non-contiguous input (no batching rule for the `as_strided_` it uses); it is the mean over the
      spatial axes.
    A torch-function mode is thread-local, unlike `torch.nn.attention.sdpa_kernel`, which sets process-wide flags
    and would switch the kernel of a model another thread evaluates at the same time (the dashboard runs jobs in
    threads).
    """

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.multi_head_attention_forward and not kwargs.get("need_weights", True):
            output, _ = func(*args, **{**kwargs, "need_weights": True})
            return output, None
        if func is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else kwargs["output_size"]
            if size in (1, (1, 1)):
                return args[0].mean(dim=(-2, -1), keepdim=True)
        return func(*args, **kwargs)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _split_params(model: nn.Module, names: list[str] | None
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the parameters to differentiate, everything else the forward pass needs: other parameters and buffers)."""
    all_params = {name: p.detach() for name, p in model.named_parameters()}
    chosen = list(all_params) if names is None else list(names)
    unknown = [n for n in chosen if n not in all_params]
    if unknown:
        raise KeyError(f"not parameters of the model: {', '.join(unknown)}")
    wanted = {name: all_params[name] for name in chosen}
    fixed = {name: p for name, p in all_params.items() if name not in wanted}
    fixed.update({name: b.detach() for name, b in model.named_buffers()})
    return wanted, fixed


def chunk_size(numel: int, outputs_per_sample: int = 1, max_floats: int = DEFAULT_MAX_FLOATS) -> int:
    """Samples per chunk so that chunk x outputs x numel gradient entries fit in `max_floats` (at least 1)."""
    return max(1, max_floats // max(1, numel * outputs_per_sample))


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    params: list[str] | None = None,
    max_floats: int = DEFAULT_MAX_FLOATS,
    progress: SampleProgress | None = None,
) -> dict[str, torch.Tensor]:
    """Gradient of cross-entropy(model(x_i), y_i) for every sample i, stacked: {name: (N, *param.shape)}.

    `params` restricts the gradient to these parameter names (default: all). The result holds N x numel floats;
    use `per_sample_grad_chunks` to consume chunks without keeping them all.
    """
    chunks = list(per_sample_grad_chunks(model, x, y, params=params, max_floats=max_floats, progress=progress))
    if not chunks:
        wanted, _ = _split_params(model, params)
        return {name: p.new_zeros((0, *p.shape)) for name, p in wanted.items()}
    return {name: torch.cat([c[name] for c in chunks]) for name in chunks[0]}


def per_sample_grad_chunks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    params: list[str] | None = None,
    max_floats: int = DEFAULT_MAX_FLOATS,
    progress: SampleProgress | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """The per-sample gradients of `per_sample_grads`, one chunk of samples at a time."""
    wanted, fixed = _split_params(model, params)

    def sample_loss(weights: dict[str, torch.Tensor], sample: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, {**fixed, **weights}, (sample.unsqueeze(0),))
        return F.cross_entropy(logits, label.unsqueeze(0))

    batched = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    size = chunk_size(sum(p.numel() for p in wanted.values()), 1, max_floats)
    with _eval_mode(model):
        for start in range(0, len(x), size):
            with _BatchableLayers():
                chunk = batched(wanted, x[start:start + size], y[start:start + size])
            yield chunk
            if progress is not None:
                progress(min(len(x), start + size), len(x))


def per_sample_grads_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                          params: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The reference: one forward and backward pass per sample. Same output as `per_sample_grads`."""
    named = dict(model.named_parameters())
    names = list(named) if params is None else list(params)
    out: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    with _eval_mode(model):
        for i in range(len(x)):
            loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
            for name, g in zip(names, torch.autograd.grad(loss, [named[n] for n in names]), strict=True):
                out[name].append(g)
    return {name: torch.stack(gs) if gs else named[name].new_zeros((0, *named[name].shape))
            for name, gs in out.items()}


def diagonal_fisher(
    model: nn.Module,
    x: torch.Tensor,
    *,
    num_classes: int | None = None,
    params: list[str] | None = None,
    max_floats: int = DEFAULT_MAX_FLOATS,
    progress: SampleProgress | None = None,
) -> dict[str, torch.Tensor]:
    """The true diagonal Fisher, mean over x of sum_y p(y|x) (d/dtheta log p(y|x))^2, per parameter entry.

    The expectation over labels is exact (all C classes, weighted by the model's own probabilities), from
    per-sample Jacobians of the log-probabilities (vmap + jacrev); chunks hold at most `max_floats` entries.
    `num_classes` (the model's output count) sizes the chunks; one forward pass reads it off the model if omitted.
    """
    wanted, fixed = _split_params(model, params)

    def log_probs(weights: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, {**fixed, **weights}, (sample.unsqueeze(0),))
        return F.log_softmax(logits, dim=1).squeeze(0)

    per_sample_jacobian = vmap(jacrev(log_probs), in_dims=(None, 0))
    fisher = {name: torch.zeros_like(p) for name, p in wanted.items()}
    if len(x) == 0:
        return fisher
    if num_classes is None:
        with _eval_mode(model), torch.no_grad():
            num_classes = model(x[:1]).shape[1]
    size = chunk_size(sum(p.numel() for p in wanted.values()), num_classes, max_floats)
    with _eval_mode(model):
        for start in range(0, len(x), size):
            batch = x[start:start + size]
            with _BatchableLayers():
                jacobians = per_sample_jacobian(wanted, batch)
            # p(y|x) = exp(log p(y|x)): the Jacobian's own forward values are not returned by jacrev, so one
            # plain forward pass gives them
            with torch.no_grad():
                probs = F.softmax(functional_call(model, {**fixed, **wanted}, (batch,)), dim=1)
            for name, jac in jacobians.items():
                weights = probs.view(*probs.shape, *([1] * (jac.dim() - 2)))
                fisher[name] += (weights * jac.pow(2)).sum(dim=(0, 1))
            if progress is not None:
                progress(min(len(x), start + size), len(x))
    return {name: f / len(x) for name, f in fisher.items()}


def diagonal_fisher_loop(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The reference for `diagonal_fisher`: one backward pass per (sample, class) pair."""
    named = dict(model.named_parameters())
    fisher = {name: torch.zeros_like(p) for name, p in named.items()}
    with _eval_mode(model):
        for i in range(len(x)):
            log_p = F.log_softmax(model(x[i:i + 1]), dim=1).squeeze(0)
            probs = log_p.detach().exp()
            for c in range(len(log_p)):
                grads = torch.autograd.grad(log_p[c], list(named.values()), retain_graph=True)
                for name, g in zip(named, grads, strict=True):
                    fisher[name] += probs[c] * g.pow(2)
    return {name: f / max(1, len(x)) for name, f in fisher.items()}


__all__ = [
    "DEFAULT_MAX_FLOATS",
    "chunk_size",
    "diagonal_fisher",
    "diagonal_fisher_loop",
    "per_sample_grad_chunks",
    "per_sample_grads",
    "per_sample_grads_loop",
]
