"""The retrain band: K retrains with other seeds, scored like runs against the oracle, calibrate every verdict.

For a (base model, forget set), retrain k (k = 1..K) trains the base recipe on the retain set with seed
`base seed + k` (the oracle uses the base seed). Each is a cached model in the store, like the oracle, so a
larger K reuses the smaller K's retrains. Each retrain is then evaluated exactly as a run is (metrics/
signals.py: accuracies, attacks, threshold attacks against the oracle, the representation probe), and per
signal the band is [min, max] over the oracle's and the retrains' values (metrics/verdicts.py). The band is
stored under `Lab.band_key(oracle key, evaluation seed)`; `Lab.evaluate` and `Lab.calibrated` read it.

The band is a sweep (`SweepSpec.retrain_band`): each retrain is one band cell, a run of the method `retrain`
with its own training seed (`Lab.run(..., retrain_seed=...)`), stored once as an ordinary run record under its
cell id, so it runs on any executor (sequential, the local process pool, Ray), resumes after a kill and can be
cancelled; the sweep assembles the band from those records (`band_from_runs`). A multi-seed sweep with
`band=K` trains each seed's band beside its method cells the same way.

Schema of a band (JSON in the store):
    {"oracle_key", "seed", "k", "retrain_seeds": [...], "retrain_keys": [...],
     "bands": {signal: [lo, hi]}, "values": {signal: {"oracle": v, "retrains": [v, ...]}},
     "train_seconds": [...], "seconds": float, "created": str}

Cost: K trainings of the base recipe on the retain set (the oracle's recorded time each, shown by
`band_cost` before it starts) plus K evaluations (well under a second each on digits).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.metrics.signals import PAIRWISE, SIGNALS
from unlearn_core.metrics.verdicts import bands_from_references
from unlearn_core.progress import Progress, quiet

DEFAULT_K = 2  # on CPU; more retrains give a truer band at K times the oracle's training cost
MAX_K = 32


def record_dict(record: Any) -> dict:
    """A stored run as its dict (a results.RunRecord or the dict itself)."""
    return record.to_dict() if hasattr(record, "to_dict") else record


def band_seeds(base_seed: int, k: int) -> list[int]:
    """Training seeds of the K band retrains (the oracle trains with the base seed itself)."""
    return [base_seed + i for i in range(1, k + 1)]


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise UserInputError(f"the retrain band needs K between 1 and {MAX_K} retrains, got {k!r}")
    return k


def base_for_method(lab: Any, spec: Any, method: str, model_key: str | None = None) -> Any:
    """The base model a run of `method` starts from (as Lab.run resolves it: an imported model, or the variant
    of `spec` trained with the method's artifacts), so its band is the band of that run's oracle."""
    from unlearn_core.methods import get_method

    if model_key:
        return lab.stored_model(model_key)
    return lab.base_model(spec.resolved().with_artifacts(get_method(method).info.needs_artifacts))


def band_cost(lab: Any, base: Any, forget: ForgetSpec, k: int = DEFAULT_K, seed: int | None = None) -> dict:
    """What training the band will cost, before it starts: {"k", "to_train", "cached", "seconds_estimate",
    "per_retrain_seconds" (the oracle's recorded training time; None until the oracle exists)}."""
    check_k(k)
    seed = base.spec.seed if seed is None else seed
    oracle_key = f"retrain-{base.key.split('-', 1)[1]}-{forget.key}"
    per = None
    if lab.store.has_model(oracle_key):
        per = lab.store.load_model(oracle_key)[1].get("train_seconds")
    keys = [f"{oracle_key}-s{s}" for s in band_seeds(base.spec.seed, k)]
    to_train = sum(not lab.store.has_model(key) for key in keys)
    band = lab.cached_band(oracle_key, seed)
    return {"k": k, "to_train": to_train, "cached": band is not None and band.get("k", 0) >= k,
            "per_retrain_seconds": per, "seconds_estimate": None if per is None else to_train * float(per)}


def band_spec(base: Any, forget: ForgetSpec, k: int, seed: int) -> Any:
    """The retrain band of `base` on `forget` at evaluation seed `seed`, as a sweep (one band cell per retrain)."""
    from unlearn_core.studies.sweep import SweepSpec

    imported = not base.key.startswith("base-")
    return SweepSpec.retrain_band(base.spec, forget, k, seed, model_key=base.key if imported else None)


def band_from_runs(records: list[dict]) -> dict:
    """The band (schema above) from the stored runs of its band cells, in training-seed order: each run's
    signals against the oracle's, which every run of the scenario carries as its `retrain` reference."""
    oracle_values = records[0]["retrain"]["signals"]["values"]
    retrain_signals = [r["metrics"]["signals"]["values"] for r in records]
    oracle_key = records[0]["retrain_key"]
    values = {name: {"oracle": 0.5 if name in PAIRWISE else (oracle_values.get(name) or {}).get("value"),
                     "retrains": [(r.get(name) or {}).get("value") for r in retrain_signals]}
              for name in SIGNALS if any(name in r for r in retrain_signals)}
    seeds = [int(r["retrain_seed"]) for r in records]
    seconds = [float(r.get("seconds") or 0.0) for r in records]
    return {"oracle_key": oracle_key, "seed": int(records[0]["seed"]), "k": len(records), "retrain_seeds": seeds,
            "retrain_keys": [f"{oracle_key}-s{s}" for s in seeds],
            "bands": bands_from_references(oracle_values, retrain_signals), "values": values,
            "train_seconds": seconds, "seconds": sum(seconds), "created": time.strftime("%Y-%m-%d %H:%M:%S")}


def train_band(lab: Any, base: Any, forget: ForgetSpec, k: int = DEFAULT_K, seed: int | None = None, *,
               progress: Progress = quiet, stop: threading.Event | None = None, executor: str = "sequential",
               workers: int | None = None, address: str | None = None) -> dict:
    """Trains (or reuses) the oracle and K band retrains of `base` on `forget`, evaluates each against the
    oracle with evaluation seed `seed` (default: the base seed) and stores the band; returns it.

    It runs the band's sweep on `executor` ("sequential" in this process, "local" or "ray" as for any sweep);
    a band with at least K retrains stored already is returned as it is."""
    from unlearn_core.models.training import TrainingCancelled
    from unlearn_core.studies.sweep import run_sweep

    check_k(k)
    seed = base.spec.seed if seed is None else int(seed)
    oracle_key = f"retrain-{base.key.split('-', 1)[1]}-{forget.key}"
    cached = lab.cached_band(oracle_key, seed)
    if cached is not None and cached.get("k", 0) >= k:
        progress(1.0, f"retrain band (K={cached['k']}) cached")
        return cached
    result = run_sweep(band_spec(base, forget, k, seed), executor=executor, workers=workers, address=address,
                       lab=lab, progress=progress, stop=stop)
    band = lab.cached_band(oracle_key, seed)
    if band is None or band.get("k", 0) < k:
        if result.status == "cancelled":
            raise TrainingCancelled("cancelled by the user")
        failed = next((c for c in result.cells if c.status != "ok" and c.status != "done before"), None)
        reason = f"{failed.label}: {failed.message}" if failed else "a band cell did not finish"
        raise UserInputError(f"the retrain band of {oracle_key} could not be built: {reason}")
    progress(1.0, f"retrain band (K={k}) ready")
    return band


def band_for_record(lab: Any, record: dict, k: int = DEFAULT_K, *, progress: Progress = quiet,
                    stop: threading.Event | None = None) -> dict:
    """The band of a stored run's oracle (trained if missing), for re-deriving its verdict."""
    record = record_dict(record)
    base = lab.base_for_record(record)
    return train_band(lab, base, ForgetSpec.from_dict(record["forget"]), k, int(record.get("seed") or 0),
                      progress=progress, stop=stop)


def ulira_evidence(lab: Any, run_id: str, result: dict) -> dict:
    """U-LiRA-lite as a verdict signal for a stored run: the attack accuracy with a bootstrap CI over the forget
    examples, and its band: the same attack (the run's shadow Gaussians) with each band retrain in place of the
    run, beside chance (0.5, the oracle against itself). Stored under `ulira-<run id>`; Lab.calibrated adds it."""
    import numpy as np

    from unlearn_core.metrics.stats import bootstrap_mean_ci
    from unlearn_core.metrics.threshold import logit_confidence, model_logits
    from unlearn_core.metrics.ulira import log_likelihood_ratio

    record = lab.store.get_run(run_id)
    seed = int(record.get("seed") or 0)
    per = result["per_example"]
    entry: dict = {"value": float(result["accuracy"]),
                   "ci": list(bootstrap_mean_ci(np.asarray(per["accuracy"], dtype=np.float64), seed)), "band": None}
    band = lab.cached_band(record["retrain_key"], seed)
    if band is not None:
        base = lab.base_for_record(record)
        forget = ForgetSpec.from_dict(record["forget"])
        xf, yf = Splits.build(lab.dataset(base.spec), forget, lab.device).forget()
        retrained_hits = (np.asarray(per["llr_retrained"]) <= 0).mean()
        accuracies = [0.5]
        for train_seed in band["retrain_seeds"]:
            model = lab.retrain_oracle(base, forget, seed=train_seed).model
            llr = log_likelihood_ratio(logit_confidence(model_logits(model, xf), yf),
                                       (np.asarray(per["mu_unlearned"]), np.asarray(per["sd_unlearned"])),
                                       (np.asarray(per["mu_retrained"]), np.asarray(per["sd_retrained"])))
            accuracies.append(float(((llr > 0).mean() + retrained_hits) / 2))
        entry["band"] = [min(accuracies), max(accuracies)]
        entry["k"] = band["k"]
    lab.store.put_eval(f"ulira-{run_id}", entry)
    return entry


__all__ = ["DEFAULT_K", "band_cost", "band_for_record", "band_from_runs", "band_seeds", "band_spec", "base_for_method",
           "record_dict", "train_band", "ulira_evidence"]
