"""Verdicts calibrated on a band of independent retrains: evidence per signal, then one label from a small set.

The retrain band (studies/band.py) holds, per signal, the values of the retrain oracle and of K retrains trained
with other seeds (for attacks that compare a model with the oracle: chance, 0.5, and each retrain's value
against the oracle). Its band is [min, max] of those values: what separates independent retrains from the
oracle. A run's signal is **within** the band when its 95% bootstrap CI overlaps it (so an honest retrain is not
failed for measurement noise); a signal that was not measured, or has no band, is `within: null` and never
counts as a pass. docs/verdicts.md explains the rule with a worked example; LABELS below is the one
definition of the labels, used by the dashboard, the report and the docs.

Schema of `metrics["verdict"]`:
    {"label": one of LABELS, "utility": "utility kept" | "utility damaged" | "utility not measured",
     "text": "label: reasons ...",
     "evidence": [{"signal": name, "value": float | None, "band": [lo, hi] | None, "within": bool | None,
                   "why": text}],          # one entry per signal of signals.SIGNALS that applies
     "band": {"k": K, "retrain_seeds": [...]} | None,
     "checks": {"forget_acc", "retrain_forget_acc", "original_forget_acc", "utility_points", ...}}
"""

from __future__ import annotations

import math

from unlearn_core.metrics.signals import PAIRWISE, SIGNALS

# label -> (tone for colouring: good | fair | bad | none, what it means)
LABELS: dict[str, tuple[str, str]] = {
    "forgotten": ("good", "every measured signal is within the band of independent retrains: no measured attack "
                          "or accuracy tells this run from retraining without the forget set"),
    "nothing to forget": ("good", "the original model itself is already within the band on every signal: there "
                                  "was nothing measurable to forget (typical of random forgetting on a model that "
                                  "generalises well)"),
    "forgotten, utility damaged": ("fair", "every forgetting signal is within the band, but retain, test or kept-"
                                           "class test accuracy is below it: forgetting was paid for with utility"),
    "partly forgotten": ("fair", "forget accuracy is within the band (or moved at least half way to it from the "
                                 "original's), but another signal is outside it: an attack still tells the run "
                                 "from retrain"),
    "not forgotten": ("bad", "forget accuracy is outside the band and less than half way there from the original"),
    "over-forgotten": ("bad", "forget accuracy is below the band: retrained models still classify many forget "
                              "images correctly, and pushing them lower marks exactly those images"),
    "did nothing": ("bad", "the run's outputs cannot be told from the original's: the threshold attacks against the "
                           "original are within what separates two retrains, and no signal moved away from the "
                           "original's"),
    "unverified": ("none", "no retrain band yet, or a required signal could not be measured: no verdict is given "
                           "until it is (train the band: `unlearn band`, or the Compare page)"),
}
# a verdict needs these measured and banded; the others count when measured (U-LiRA only once computed)
REQUIRED = ("forget_acc", "retain_acc", "test_acc", "threshold_confidence", "threshold_entropy")
# share of the original's distance to the band a run must close to be "partly forgotten"
PARTLY_CLOSED = 0.5
_EPS = 1e-9


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(float(value)) else None


def _fmt(signal: str, value: float) -> str:
    return f"{100 * value:.1f}%" if signal.endswith("acc") or signal.endswith("classes") or \
        signal.startswith(("svc", "threshold", "ulira")) else f"{value:.2f}"


def _signal_values(metrics: dict | None) -> dict[str, dict]:
    return dict(((metrics or {}).get("signals") or {}).get("values") or {})


def applicable_signals(metrics: dict) -> list[str]:
    """The signals of this scenario: kept-class test accuracy only where classes are forgotten; U-LiRA only
    once it was computed."""
    values = _signal_values(metrics)
    out = []
    for name in SIGNALS:
        if name == "test_acc_retain_classes" and name not in values:
            continue
        if name == "ulira" and name not in values:
            continue
        out.append(name)
    return out


def _within(ci: list[float], band: list[float]) -> bool:
    return ci[1] >= band[0] - _EPS and ci[0] <= band[1] + _EPS


def evidence(metrics: dict, bands: dict[str, list[float]] | None, k: int | None = None) -> list[dict]:
    """One entry per applicable signal: value, band, within (None when not measured or no band) and why."""
    values = _signal_values(metrics)
    out = []
    for name in applicable_signals(metrics):
        title = SIGNALS[name][0]
        entry = values.get(name)
        band = (bands or {}).get(name)
        if entry is None:
            out.append({"signal": name, "value": None, "band": band, "within": None,
                        "why": f"{title}: not measured (the forget set is too small for it, or it was not run)"})
            continue
        value, ci = entry["value"], entry["ci"]
        measured = f"{_fmt(name, value)} (95% CI {_fmt(name, ci[0])} to {_fmt(name, ci[1])})"
        if band is None:
            out.append({"signal": name, "value": value, "band": None, "within": None,
                        "why": f"{title} {measured}; no retrain band yet, so it cannot count as a pass"})
            continue
        within = _within(ci, band)
        of = f"{k} retrains and the oracle" if k else "the retrains and the oracle"
        side = "within" if within else ("below" if ci[1] < band[0] else "above")
        out.append({"signal": name, "value": value, "band": [float(band[0]), float(band[1])], "within": within,
                    "why": f"{title} {measured} is {side} the band {_fmt(name, band[0])} to {_fmt(name, band[1])} "
                           f"of {of}"})
    return out


def _distance(value: float, band: list[float]) -> float:
    return max(band[0] - value, value - band[1], 0.0)


def _did_nothing(metrics: dict, original: dict, bands: dict[str, list[float]]) -> tuple[bool, str]:
    """A run did nothing when the threshold attacks against the original are within what separates two
    retrains, and no signal moved away from the original's (every CI overlaps the original's)."""
    vs = ((metrics.get("signals") or {}).get("vs_original")) or {}
    parts = []
    for statistic in ("confidence", "entropy"):
        entry, band = vs.get(statistic), bands.get(f"threshold_{statistic}")
        if entry is None or band is None or entry["ci"][0] > band[1] + _EPS:
            return False, ""
        parts.append(f"{statistic} {_fmt('threshold', entry['value'])}")
    run_values, original_values = _signal_values(metrics), _signal_values(original)
    for name, entry in run_values.items():
        reference = original_values.get(name)
        if reference is not None and not _within(entry["ci"], reference["ci"]):
            return False, ""
    upper = max(bands["threshold_confidence"][1], bands["threshold_entropy"][1])
    return True, (f"threshold attacks against the original reach only {' and '.join(parts)}, within what separates "
                  f"two retrains (up to {_fmt('threshold', upper)}), and no signal moved away from the original's")


def verdict(metrics: dict, original: dict, retrain: dict, band: dict | None = None, role: str = "run") -> dict:
    """The verdict of `metrics` (a run's, or the original's / oracle's with `role` "original" / "retrain")
    against the retrain `band` (studies/band.py; None: not trained yet, the verdict is "unverified")."""
    bands = (band or {}).get("bands") or None
    k = (band or {}).get("k")
    items = evidence(metrics, bands, k)
    by_signal = {e["signal"]: e for e in items}
    fa, fa_o, fa_r = (_num(m.get("forget_acc")) for m in (metrics, original, retrain))
    tr, tr_o, tr_r = (_num(m.get("test_acc_retain_classes")) for m in (metrics, original, retrain))
    utility_points = None if tr is None or tr_o is None else 100 * (tr - tr_o)
    checks = {"forget_acc": fa, "original_forget_acc": fa_o, "retrain_forget_acc": fa_r,
              "utility_points": utility_points,
              "utility_vs_retrain_points": None if tr is None or tr_r is None else 100 * (tr - tr_r)}
    outside = [e for e in items if e["within"] is False]
    utility_low = [e for e in outside if SIGNALS[e["signal"]][1] == "utility" and e["value"] < e["band"][0]]
    forgetting_out = [e for e in outside if e not in utility_low]
    verified = bands is not None and all(by_signal.get(s, {}).get("within") is not None for s in REQUIRED)
    parts: list[str] = []
    if fa is not None and fa_r is not None:
        parts.append(f"forget accuracy {_fmt('forget_acc', fa)} (retrain {_fmt('forget_acc', fa_r)})")
    if not verified:
        label = "unverified"
        missing = [s for s in REQUIRED if by_signal.get(s, {}).get("within") is None]
        parts.append("no retrain band yet" if bands is None else
                     "not measured: " + ", ".join(SIGNALS[s][0] for s in missing))
    else:
        nothing, why_nothing = _did_nothing(metrics, original, bands) if role == "run" else (False, "")
        fe = by_signal["forget_acc"]
        if nothing:
            label = "did nothing"
            parts.append(why_nothing)
            original_in = all(e["within"] is not False for e in evidence(original, bands, k))
            parts.append("the original already matched retrain, so nothing needed forgetting" if original_in else
                         "the original does not match retrain, so the forget set is still there")
        elif not outside:
            label = "nothing to forget" if role == "original" else "forgotten"
            measured = sum(e["within"] is True for e in items)
            parts.append(f"all {measured} measured signals within the band of {k} retrains and the oracle")
        elif fe["within"] is False and fe["value"] < fe["band"][0]:
            label = "over-forgotten"
        elif not forgetting_out:
            label = "forgotten, utility damaged"
        else:
            closed = None
            if fa is not None and fa_o is not None and fe["band"] is not None:
                d_o = _distance(fa_o, fe["band"])
                closed = 1 - _distance(fa, fe["band"]) / d_o if d_o > 0 else None
                checks["gap_closed"] = closed
            label = "partly forgotten" if fe["within"] or (closed is not None and closed >= PARTLY_CLOSED) \
                else "not forgotten"
        if label not in ("forgotten", "nothing to forget", "did nothing"):
            parts += [e["why"] for e in sorted(outside, key=lambda e: e["signal"] not in ("forget_acc",))[:3]]
            if len(outside) > 3:
                parts.append(f"{len(outside) - 3} more signal(s) outside the band")
    if bands is None or not any(SIGNALS[e["signal"]][1] == "utility" and e["within"] is not None for e in items):
        utility = "utility not measured"
    else:
        utility = "utility damaged" if utility_low else "utility kept"
    if utility_points is not None:
        parts.append(f"kept-class test accuracy {utility_points:+.1f} points vs the original")
    not_measured = [e["signal"] for e in items if e["value"] is None]
    if not_measured and label != "unverified":
        parts.append("not measured: " + ", ".join(SIGNALS[s][0] for s in not_measured))
    return {"label": label, "utility": utility, "text": f"{label}: " + "; ".join(parts), "evidence": items,
            "band": None if band is None else {"k": k, "retrain_seeds": list(band.get("retrain_seeds") or [])},
            "checks": {key: v for key, v in checks.items() if v is not None}}


def label_tone(label: str) -> str:
    """The tone of a label (good, fair, bad or none), for colouring it wherever it is shown."""
    return LABELS.get(label, ("none", ""))[0]


def bands_from_references(oracle: dict[str, dict], retrains: list[dict[str, dict]]) -> dict[str, list[float]]:
    """Per signal, [min, max] of the oracle's and the retrains' values (signals.model_signals `values`); for
    signals that compare a model with the oracle, the oracle's own value is chance (0.5)."""
    out: dict[str, list[float]] = {}
    for name in SIGNALS:
        reference = 0.5 if name in PAIRWISE else (oracle.get(name) or {}).get("value")
        values = [v for v in [reference, *((r.get(name) or {}).get("value") for r in retrains)] if v is not None]
        if len(values) >= 2:
            out[name] = [float(min(values)), float(max(values))]
    return out


__all__ = ["LABELS", "PARTLY_CLOSED", "REQUIRED", "applicable_signals", "bands_from_references", "evidence",
           "label_tone", "verdict"]
