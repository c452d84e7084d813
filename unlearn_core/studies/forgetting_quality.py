"""The NeurIPS 2023 challenge's forgetting quality for a stored run, on demand (metrics/forgetting_quality.py
has the scoring and what it means).

N unlearned models: the run's method and parameters applied to the run's original model with N seeds
(`run seed + 1 … run seed + N`). N retrained models: the band's retrains with seeds `base seed + 1 … + N`
(cached, so the retrain band's models are reused and the band reuses these). When the method is `retrain`
itself, its N "unlearned" models are retrains with the next N seeds, so the two sets never share a model.
Cost: N unlearning runs plus the retrains not yet cached (`fq_cost` says how many before it starts).
The result is stored under `fq-<run id>-<N>` and shown beside the verdict.

Both sides are sweeps on the run's base model (`fq_specs`): the retrained side is the run's retrain band with
N retrains (2N for `retrain`), its band cells shared with the band; the unlearned side a sweep of the run's
method and parameters over the N seeds (seed_base off: one base model). So each model is an ordinary stored
run (a cell), on any executor, resumable and cancellable; the score is computed from their stored weights.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import torch

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.metrics.evaluate import predict_probs
from unlearn_core.metrics.forgetting_quality import MIN_MODELS, forgetting_quality
from unlearn_core.metrics.threshold import logit_confidence, model_logits
from unlearn_core.progress import Progress, quiet
from unlearn_core.studies.band import band_seeds, band_spec, record_dict
from unlearn_core.studies.sweep import MethodGrid, SweepCell, SweepSpec, run_sweep

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


def fq_specs(lab: Any, record: dict, n: int) -> tuple[SweepSpec, SweepSpec | None]:
    """The two sweeps of the probe: (the band with the retrained side, and for `retrain` its unlearned side
    too; the method over the N unlearning seeds, None for `retrain`)."""
    base = lab.base_for_record(record)
    forget = ForgetSpec.from_dict(record["forget"])
    run_seed = int(record.get("seed") or 0)
    method = record["method"]
    band = band_spec(base, forget, 2 * n if method == "retrain" else n, run_seed)
    if method == "retrain":
        return band, None
    grid = MethodGrid.of(method, **{name: [value] for name, value in (record.get("params") or {}).items()})
    unlearned = SweepSpec(base.spec, (forget,), (grid,), tuple(run_seed + i for i in range(1, n + 1)),
                          seed_base=False, title=f"forgetting quality of {method}", model_key=band.model_key)
    return band, unlearned


def _finished_models(lab: Any, cells: list[SweepCell]) -> list[torch.nn.Module]:
    models = []
    for cell in cells:
        model = lab.run_model(cell.run_id) if lab.store.run_statuses([cell.run_id]).get(cell.run_id) == "ok" else None
        if model is None:
            error = (lab.store.run_row(cell.run_id) or {}).get("error") or "it did not finish"
            raise UserInputError(f"forgetting quality: {cell.label()} has no model: {error}")
        models.append(model)
    return models


def run_forgetting_quality(lab: Any, run_id: str, n: int = DEFAULT_MODELS, *, progress: Progress = quiet,
                           stop: threading.Event | None = None, executor: str = "sequential",
                           workers: int | None = None, address: str | None = None) -> dict:
    """The challenge's forgetting quality of a stored run's method on its scenario (see the module docstring),
    its models trained by two sweeps on `executor`.

    Returns {"n", "forgetting_quality", "score", "utility_factor", "epsilons" (list), "retain_acc": {"unlearned",
    "retrained"}, "test_acc": {...}, "unlearned_seeds", "retrained_seeds", "seconds"}; also stored."""
    from unlearn_core.models.training import TrainingCancelled

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
    band, unlearned_spec = fq_specs(lab, record, n)
    specs = [band] + ([unlearned_spec] if unlearned_spec is not None else [])
    for i, spec in enumerate(specs):
        def step(fraction: float, message: str, i: int = i) -> None:
            progress(0.98 * (i + fraction) / len(specs), message)

        if run_sweep(spec, executor=executor, workers=workers, address=address, lab=lab, progress=step,
                     stop=stop).status == "cancelled":
            raise TrainingCancelled("cancelled by the user")
    band_cells = [c for c in band.cells() if c.is_band]
    band_models = [lab.retrain_oracle(base, forget, seed=c.retrain_seed).model for c in band_cells]
    retrained_models = band_models[:n]
    if unlearned_spec is None:
        unlearned_models, unlearned_seeds = band_models[n:], [c.retrain_seed for c in band_cells[n:]]
    else:
        cells = unlearned_spec.cells()
        _finished_models(lab, band_cells)  # a failed band cell says why
        unlearned_models, unlearned_seeds = _finished_models(lab, cells), [c.seed for c in cells]
    sides = {"retrained": [_confidences_and_accuracies(m, splits) for m in retrained_models],
             "unlearned": [_confidences_and_accuracies(m, splits) for m in unlearned_models]}
    progress(0.98, "per-example epsilons")
    confs = {side: np.stack([c for c, _, _ in rows]) for side, rows in sides.items()}
    ra = {side: float(np.mean([r for _, r, _ in rows])) for side, rows in sides.items()}
    ta = {side: float(np.mean([t for _, _, t in rows])) for side, rows in sides.items()}
    scored = forgetting_quality(confs["unlearned"], confs["retrained"], ra["unlearned"], ra["retrained"],
                                ta["unlearned"], ta["retrained"])
    result = {"n": n, "method": method, "forgetting_quality": scored["forgetting_quality"],
              "score": scored["score"], "utility_factor": scored["utility_factor"],
              "epsilons": [float(e) for e in scored["epsilons"]], "retain_acc": ra, "test_acc": ta,
              "unlearned_seeds": unlearned_seeds, "retrained_seeds": [c.retrain_seed for c in band_cells[:n]],
              "seconds": time.perf_counter() - start}
    lab.store.put_eval(store_key(run_id, n), result)
    progress(1.0, f"forgetting quality {result['forgetting_quality']:.3f}, score {result['score']:.3f}")
    return result


__all__ = ["DEFAULT_MODELS", "fq_cost", "fq_specs", "run_forgetting_quality", "store_key"]
