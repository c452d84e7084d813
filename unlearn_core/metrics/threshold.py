"""Threshold attacks that tell the unlearned model's forget samples from the retrain oracle's (peers.md 3.6).

Unlearning Comparator's privacy attack: for the forget samples, compare a per-sample statistic computed
under the unlearned model (positives) with the same statistic under the retrain model (negatives); a
threshold on it is an attack that guesses which model produced a value. Per threshold:
    FPR = share of retrain values called "unlearned", FNR = share of unlearned values called "retrain",
    accuracy = 1 - (FPR + FNR) / 2 (balanced: both sides have the same samples),
    eps = max(0, max(log(1 - delta - FPR) - log FNR, log(1 - delta - FNR) - log FPR)), delta = 1e-5 (the larger
    bound, as the NeurIPS 2023 challenge's code takes it; FPR = FNR = 0 is inf, one of them 0 gives no bound),
    attack score = 1 - 2^-eps;  privacy score PS = 1 - max attack score over thresholds, directions, statistics.
A model indistinguishable from retrain gives accuracy 0.5 and PS 1; the retrain model against itself gives
exactly that (FPR + FNR = 1 at every threshold).

Statistics (Comparator's two):
- "confidence": logit-scaled confidence of the true class, phi = log p_y - log(1 - p_y), at temperature 1.
  Comparator uses the top class p_max instead; we use the true class, the statistic of LiRA / U-LiRA, so a
  model that moves a forgotten image's mass to another class is seen to have done so.
- "entropy": entropy of softmax(logits / 2) (Comparator's temperature 2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DELTA = 1e-5
STATISTICS = ("confidence", "entropy")
ENTROPY_TEMPERATURE = 2.0


@torch.inference_mode()
def model_logits(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    from unlearn_core.device import eval_batch_size

    batch_size = batch_size or eval_batch_size(x.device)
    was_training = model.training
    model.eval()
    out = [model(x[i : i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


def logit_confidence(logits: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Phi = log p_y - log(1 - p_y) = z_y - logsumexp_{j != y} z_j (stable for confident models)."""
    logits = logits.double()
    target = target.cpu().view(-1, 1)
    true = logits.gather(1, target).squeeze(1)
    others = logits.scatter(1, target, float("-inf"))
    return (true - torch.logsumexp(others, dim=1)).numpy()


def tempered_entropy(logits: torch.Tensor, temperature: float = ENTROPY_TEMPERATURE) -> np.ndarray:
    logp = F.log_softmax(logits.double() / temperature, dim=1)
    return (-(logp.exp() * logp).sum(1)).numpy()


def sample_statistics(logits: torch.Tensor, target: torch.Tensor) -> dict[str, np.ndarray]:
    """Both attack statistics for each sample."""
    return {"confidence": logit_confidence(logits, target), "entropy": tempered_entropy(logits)}


def forget_statistics(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    return sample_statistics(model_logits(model, x), y)


def _epsilon(fpr: np.ndarray, fnr: np.ndarray) -> np.ndarray:
    """The NeurIPS 2023 challenge's epsilon per threshold: the larger of the two bounds (its `nanmax`), clipped
    at 0; FPR = FNR = 0 is perfect separation (inf); exactly one of them 0 gives no usable bound (0 here, the
    challenge drops the threshold)."""
    fpr, fnr = np.broadcast_arrays(np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.clip(1 - DELTA - fpr, 0, None)) - np.log(fnr)
        b = np.log(np.clip(1 - DELTA - fnr, 0, None)) - np.log(fpr)
        eps = np.clip(np.fmax(a, b), 0, None)
    eps = np.where(fpr * fnr == 0, 0.0, eps)
    eps = np.where((fpr == 0) & (fnr == 0), np.inf, eps)
    return np.nan_to_num(eps, nan=0.0, posinf=np.inf)


def attack_score(fpr: np.ndarray | float, fnr: np.ndarray | float) -> np.ndarray:
    """Comparator's 1 - 2^-eps (0 = no evidence, 1 = perfect separation)."""
    eps = _epsilon(np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64))
    return 1.0 - np.exp2(-eps)


def default_thresholds(*values: np.ndarray, count: int = 201) -> np.ndarray:
    """An even grid spanning every value given, one step beyond each end (so 'call everything one side'
    is included)."""
    joined = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values])
    joined = joined[np.isfinite(joined)]
    if len(joined) == 0:
        return np.zeros(1)
    lo, hi = float(joined.min()), float(joined.max())
    pad = max((hi - lo) / (count - 3), 1e-6)
    return np.linspace(lo - pad, hi + pad, count)


def sweep(positive: np.ndarray, negative: np.ndarray, thresholds: np.ndarray, direction: str = "above") -> dict:
    """FPR, FNR, accuracy and attack score at each threshold; 'above' calls values > t positive."""
    positive, negative = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1, 1)
    if direction == "above":
        fnr = (positive.reshape(1, -1) <= t).mean(1)
        fpr = (negative.reshape(1, -1) > t).mean(1)
    elif direction == "below":
        fnr = (positive.reshape(1, -1) >= t).mean(1)
        fpr = (negative.reshape(1, -1) < t).mean(1)
    else:
        raise ValueError(f"direction must be above or below, got {direction!r}")
    return {"thresholds": np.asarray(thresholds, dtype=np.float64), "fpr": fpr, "fnr": fnr,
            "accuracy": 1.0 - (fpr + fnr) / 2, "attack_score": attack_score(fpr, fnr)}


def natural_direction(positive: np.ndarray, negative: np.ndarray) -> str:
    """'above' when the positives sit higher (median), so a user-chosen threshold reads the natural way."""
    return "above" if np.median(positive) >= np.median(negative) else "below"


def threshold_attack(positive: np.ndarray, negative: np.ndarray, threshold: float, direction: str | None = None
                     ) -> dict:
    """The attack at one threshold (direction from the medians unless given)."""
    direction = direction or natural_direction(positive, negative)
    result = sweep(positive, negative, np.array([threshold]), direction)
    return {"threshold": float(threshold), "direction": direction, "accuracy": float(result["accuracy"][0]),
            "fpr": float(result["fpr"][0]), "fnr": float(result["fnr"][0]),
            "attack_score": float(result["attack_score"][0])}


def best_attack(positive: np.ndarray, negative: np.ndarray, thresholds: np.ndarray | None = None) -> dict:
    """The strongest threshold over both directions: the highest attack score (ties: highest accuracy),
    plus the highest accuracy and the privacy score 1 - max attack score."""
    thresholds = default_thresholds(positive, negative) if thresholds is None else thresholds
    best: dict | None = None
    top_accuracy = 0.0
    for direction in ("above", "below"):
        s = sweep(positive, negative, thresholds, direction)
        top_accuracy = max(top_accuracy, float(s["accuracy"].max()))
        i = int(np.lexsort((s["accuracy"], s["attack_score"]))[-1])
        candidate = {"threshold": float(thresholds[i]), "direction": direction,
                     "accuracy": float(s["accuracy"][i]), "fpr": float(s["fpr"][i]), "fnr": float(s["fnr"][i]),
                     "attack_score": float(s["attack_score"][i])}
        if best is None or (candidate["attack_score"], candidate["accuracy"]) > (best["attack_score"],
                                                                                best["accuracy"]):
            best = candidate
    assert best is not None
    best["best_accuracy"] = top_accuracy
    best["privacy_score"] = 1.0 - best["attack_score"]
    return best


def threshold_summary(model_stats: dict[str, np.ndarray], retrain_stats: dict[str, np.ndarray]) -> dict:
    """Per statistic the strongest attack of model vs retrain, and the overall privacy score (the worst)."""
    out: dict = {name: best_attack(model_stats[name], retrain_stats[name]) for name in STATISTICS}
    out["privacy_score"] = min(out[name]["privacy_score"] for name in STATISTICS)
    return out


def threshold_explorer(stats: dict[str, dict[str, np.ndarray]], statistic: str, threshold: float | None = None,
                       count: int = 201) -> dict:
    """Data for the explorer view: forget-sample distributions of `statistic` for each model in `stats`
    (keys such as 'original', 'unlearned', 'retrain'; 'retrain' required), and for every other model the
    sweep against retrain plus the attack at `threshold` (default: the unlearned model's best threshold).

    Schema: {"statistic", "values": {model: array}, "thresholds": array, "threshold": float,
             "vs_retrain": {model: {"direction", "sweep": {fpr, fnr, accuracy, attack_score arrays},
                                    "at_threshold": {...}, "best": {...}}}}."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    values = {name: np.asarray(s[statistic], dtype=np.float64) for name, s in stats.items()}
    retrain = values["retrain"]
    thresholds = default_thresholds(*values.values(), count=count)
    out: dict = {"statistic": statistic, "values": values, "thresholds": thresholds, "vs_retrain": {}}
    for name, vals in values.items():
        if name == "retrain":
            continue
        direction = natural_direction(vals, retrain)
        out["vs_retrain"][name] = {"direction": direction, "sweep": sweep(vals, retrain, thresholds, direction),
                                   "best": best_attack(vals, retrain, thresholds)}
    if threshold is None:
        focus = "unlearned" if "unlearned" in out["vs_retrain"] else next(iter(out["vs_retrain"]), None)
        threshold = out["vs_retrain"][focus]["best"]["threshold"] if focus else float(np.median(retrain))
    out["threshold"] = float(threshold)
    for name, entry in out["vs_retrain"].items():
        entry["at_threshold"] = threshold_attack(values[name], retrain, threshold, entry["direction"])
    return out
