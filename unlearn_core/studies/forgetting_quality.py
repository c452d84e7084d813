"""The NeurIPS 2023 challenge's forgetting quality for a stored run, on demand (metrics/forgetting_quality.py
has the scoring and what it means).

N unlearned models: the run's method and parameters applied to the run's original model with N seeds
(`run seed + 1 … run seed + N`). N retrained models: the band's retrains with seeds `base seed + 1 … + N`
(cached, so the retrain band's models are reused and the band reuses these). When the method is `retrain`
itself, its N "unlearned" models are retrains with the next N seeds, so the two sets never share a model.
Cost: N unlearning runs plus the retrains not yet cached (`fq_cost` says how many before it starts).
The result is stored under `fq-<run id>-<N>` and shown beside the verdict.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import torch

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.methods import UnlearnContext, execute_method, get_method
from unlearn_core.metrics.evaluate import predict_probs
from unlearn_core.metrics.forgetting_quality import MIN_MODELS, forgetting_quality
from unlearn_core.metrics.threshold import logit_confidence, model_logits
from unlearn_core.progress import Progress, quiet
from unlearn_core.studies.band import band_seeds, record_dict

DEFAULT_MODELS = 4  # on CPU; the challenge used 512 of each
MAX_MODELS = 64


def _check(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_MODELS <= n <= MAX_MODELS:
        raise UserInputError(f"forgetting quality needs between {MIN_MODELS} and {MAX_MODELS} models per side, "
                             f"got {n!r}")
    return n


def store_key(run_id: str, n: int) -> str:
    return f"fq-{run_id}-{n}"


def fq_cost(lab: Any, record: dict, n: int = DEFAULT_MODELS) -> dict:
    """{"n", "unlearning_runs", "retrains_to_train", "seconds_estimate"} before the probe starts (from the
    run's recorded time and the oracle's recorded training time)."""
    _check(n)
    record = record_dict(record)
    oracle_key = record["retrain_key"]
    seeds = band_seeds(int(record["experiment"].get("seed", 0)), 2 * n if record["method"] == "retrain" else n)
    to_train = sum(not lab.store.has_model(f"{oracle_key}-s{s}") for s in seeds)
    per_retrain = lab.store.load_model(oracle_key)[1].get("train_seconds") if lab.store.has_model(oracle_key) \
        else None
    runs = 0 if record["method"] == "retrain" else n
    per_run = float(record.get("seconds") or 0.0)
    estimate = None if per_retrain is None else to_train * float(per_retrain) + runs * per_run
    return {"n": n, "unlearning_runs": runs, "retrains_to_train": to_train, "seconds_estimate": estimate}


def _confidences_and_accuracies(model: torch.nn.Module, splits: Splits) -> tuple[np.ndarray, float, float]:
    xf, yf = splits.forget()
    xr, yr = splits.retain()
    xt, yt = splits.test()
    retain_acc = float((predict_probs(model, xr).argmax(1) == yr.cpu()).float().mean())
    correct = predict_probs(model, xt).argmax(1) == yt.cpu()
    # class forgetting: the utility is the kept classes' test accuracy (as in avg_gap); the whole test set holds
    # the forgotten class, on which a model that did not forget would score a utility above 1
    kept = ~splits.test_class_mask().cpu() if splits.forget_classes else torch.ones_like(correct)
    test_acc = float(correct[kept].float().mean())
    return logit_confidence(model_logits(model, xf), yf), retain_acc, test_acc


def run_forgetting_quality(lab: Any, run_id: str, n: int = DEFAULT_MODELS, *, progress: Progress = quiet,
                           stop: threading.Event | None = None) -> dict:
    """The challenge's forgetting quality of a stored run's method on its scenario (see the module docstring).

    Returns {"n", "forgetting_quality", "score", "utility_factor", "epsilons" (list), "retain_acc": {"unlearned",
    "retrained"}, "test_acc": {...}, "unlearned_seeds", "retrained_seeds", "seconds"}; also stored."""
    _check(n)
    stop = stop or threading.Event()
    start = time.perf_counter()
    record = lab.store.get_run(run_id)
    if record.get("status") != "ok":
        raise UserInputError(f"run {run_id} did not finish ({record.get('status')}): nothing to score")
    base = lab.base_for_record(record)
    forget = ForgetSpec.from_dict(record["forget"])
    splits = Splits.build(lab.dataset(base.spec), forget, lab.device)
    method = record["method"]
    seeds = band_seeds(base.spec.seed, 2 * n)
    retrained_seeds, extra_seeds = seeds[:n], seeds[n:]
    sides: dict[str, list] = {"retrained": [], "unlearned": []}
    total = 2 * n
    for i, seed in enumerate(retrained_seeds):
        def step(fraction: float, message: str, i: int = i) -> None:
            progress((i + fraction) / total, f"retrained model {i + 1}/{n}: {message}")

        model = lab.retrain_oracle(base, forget, step, stop, seed=seed).model
        sides["retrained"].append(_confidences_and_accuracies(model, splits))
    run_seed = int(record.get("seed") or 0)
    unlearned_seeds = extra_seeds if method == "retrain" else [run_seed + i for i in range(1, n + 1)]
    impl = None if method == "retrain" else get_method(method)
    cfg = impl.Config.from_values(record.get("params")) if impl else None
    for i, seed in enumerate(unlearned_seeds):
        def step(fraction: float, message: str, i: int = i) -> None:
            progress((n + i + fraction) / total, f"unlearned model {i + 1}/{n}: {message}")

        if impl is None:
            model = lab.retrain_oracle(base, forget, step, stop, seed=seed).model
        else:
            step(0.0, f"{method} with seed {seed}")
            ctx = UnlearnContext(lab.device, seed, step, stop)
            model = execute_method(impl, base.model, splits, base.artifacts, cfg, ctx).result.model
        sides["unlearned"].append(_confidences_and_accuracies(model, splits))
    progress(0.98, "per-example epsilons")
    confs = {side: np.stack([c for c, _, _ in rows]) for side, rows in sides.items()}
    ra = {side: float(np.mean([r for _, r, _ in rows])) for side, rows in sides.items()}
    ta = {side: float(np.mean([t for _, _, t in rows])) for side, rows in sides.items()}
    scored = forgetting_quality(confs["unlearned"], confs["retrained"], ra["unlearned"], ra["retrained"],
                                ta["unlearned"], ta["retrained"])
    result = {"n": n, "method": method, "forgetting_quality": scored["forgetting_quality"],
              "score": scored["score"], "utility_factor": scored["utility_factor"],
              "epsilons": [float(e) for e in scored["epsilons"]], "retain_acc": ra, "test_acc": ta,
              "unlearned_seeds": unlearned_seeds, "retrained_seeds": retrained_seeds,
              "seconds": time.perf_counter() - start}
    lab.store.put_eval(store_key(run_id, n), result)
    progress(1.0, f"forgetting quality {result['forgetting_quality']:.3f}, score {result['score']:.3f}")
    return result


__all__ = ["DEFAULT_MODELS", "fq_cost", "run_forgetting_quality", "store_key"]
