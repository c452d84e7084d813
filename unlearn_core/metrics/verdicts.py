"""Plain-language verdicts: one sentence per run saying whether it forgot, whether attacks can tell it from
retrain, and what it cost. The thresholds are the constants below and are explained in docs/verdicts.md.

Schema of `metrics["verdict"]`:
    {"label": "forgotten" | "looks forgotten" | "partly forgotten" | "not forgotten" | "over-forgotten"
              | "nothing to forget",
     "utility": "utility kept" | "small utility cost" | "utility damaged",
     "text": "forgotten: forget accuracy 0.4% (retrain 0.0%); ...",
     "checks": {"forget_acc", "retrain_forget_acc", "original_forget_acc", "forget_gap", "gap_closed",
                "loss_auc", "retrain_loss_auc", "svc_confidence", "retrain_svc_confidence",
                "threshold_accuracy", "utility_points", "utility_vs_retrain_points", "accuracy_ok", "attacks_ok"}}
Every number is finite; a check that cannot be computed is left out.
"""

from __future__ import annotations

import math

# forget accuracy within this many accuracy points (as a fraction) of retrain counts as matching retrain
FORGET_CLOSE = 0.05
# a run that closes at least this share of the original's forget-accuracy gap to retrain has partly forgotten
PARTLY_CLOSED = 0.5
# attacks "cannot tell it from retrain" when the loss-attack AUC is within this of retrain's ...
LOSS_AUC_CLOSE = 0.05
# ... and SalUn's SVC MIA-Efficacy (confidence) is within this of retrain's
SVC_CLOSE = 0.10
# the best threshold attack (model vs retrain forget samples) above this accuracy is called out in the text
THRESHOLD_STRONG = 0.75
# utility = test accuracy on the kept classes, change vs the original, in points
UTILITY_KEPT = 1.0
UTILITY_SMALL = 5.0


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(float(value)) else None


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _utility_label(points: float | None) -> str:
    if points is None or points >= -UTILITY_KEPT:
        return "utility kept"
    return "small utility cost" if points >= -UTILITY_SMALL else "utility damaged"


def verdict(metrics: dict, original: dict, retrain: dict) -> dict:
    """The verdict of a run's metrics against the original's and the retrain oracle's."""
    fa, fa_r, fa_o = (_num(m.get("forget_acc")) for m in (metrics, retrain, original))
    auc, auc_r = _num(metrics.get("mia_loss_auc")), _num(retrain.get("mia_loss_auc"))
    svc, svc_r = _num(metrics.get("mia_efficacy")), _num(retrain.get("mia_efficacy"))
    threshold = (metrics.get("privacy") or {}).get("attacks", {}).get("threshold", {})
    best_thr = max((_num(threshold.get(s, {}).get("best_accuracy")) or 0.0 for s in ("confidence", "entropy")),
                   default=0.0)
    tr, tr_o, tr_r = (_num(m.get("test_acc_retain_classes")) for m in (metrics, original, retrain))
    utility = None if tr is None or tr_o is None else 100 * (tr - tr_o)
    utility_vs_retrain = None if tr is None or tr_r is None else 100 * (tr - tr_r)

    checks: dict = {"forget_acc": fa, "retrain_forget_acc": fa_r, "original_forget_acc": fa_o, "loss_auc": auc,
                    "retrain_loss_auc": auc_r, "svc_confidence": svc, "retrain_svc_confidence": svc_r,
                    "threshold_accuracy": best_thr, "utility_points": utility,
                    "utility_vs_retrain_points": utility_vs_retrain}
    accuracy_ok = fa is not None and fa_r is not None and abs(fa - fa_r) <= FORGET_CLOSE
    attacks_ok = (auc is None or auc_r is None or abs(auc - auc_r) <= LOSS_AUC_CLOSE) and \
        (svc is None or svc_r is None or abs(svc - svc_r) <= SVC_CLOSE)
    checks.update(accuracy_ok=accuracy_ok, attacks_ok=attacks_ok)
    original_gap = None if fa_o is None or fa_r is None else abs(fa_o - fa_r)
    if fa is not None and fa_r is not None:
        checks["forget_gap"] = abs(fa - fa_r)
        if original_gap and original_gap > FORGET_CLOSE:
            checks["gap_closed"] = 1.0 - abs(fa - fa_r) / original_gap

    if fa is None or fa_r is None:
        label = "not forgotten"
    elif original_gap is not None and original_gap <= FORGET_CLOSE and fa_o is not None and \
            abs(fa - fa_r) <= FORGET_CLOSE:
        # an attack that still tells the run from retrain outranks "the original already matched"
        label = "nothing to forget" if attacks_ok else "looks forgotten"
    elif fa < fa_r - FORGET_CLOSE:
        label = "over-forgotten"
    elif accuracy_ok:
        label = "forgotten" if attacks_ok else "looks forgotten"
    elif checks.get("gap_closed", 0.0) >= PARTLY_CLOSED:
        label = "partly forgotten"
    else:
        label = "not forgotten"

    parts = []
    if fa is not None and fa_r is not None:
        parts.append(f"forget accuracy {_pct(fa)} (retrain {_pct(fa_r)})")
    if label == "nothing to forget":
        parts.append("the original already matched retrain on the forget set")
    if label == "over-forgotten":
        parts.append("below retrain, which itself marks the forget set")
    if auc is not None and auc_r is not None:
        tell = "cannot" if abs(auc - auc_r) <= LOSS_AUC_CLOSE else "can"
        parts.append(f"the loss attack {tell} tell it from retrain (AUC {auc:.2f} vs {auc_r:.2f})")
    if svc is not None and svc_r is not None and abs(svc - svc_r) > SVC_CLOSE:
        parts.append(f"the SVC attack calls {_pct(svc)} of forget images unseen (retrain {_pct(svc_r)})")
    if best_thr > THRESHOLD_STRONG:
        parts.append(f"a threshold attack separates its forget outputs from retrain's ({_pct(best_thr)} accuracy)")
    if utility is not None:
        parts.append(f"utility {utility:+.1f} points")
    checks = {k: v for k, v in checks.items() if v is not None}
    return {"label": label, "utility": _utility_label(utility), "text": f"{label}: " + "; ".join(parts),
            "checks": checks}


THRESHOLDS = {
    "FORGET_CLOSE": FORGET_CLOSE, "PARTLY_CLOSED": PARTLY_CLOSED, "LOSS_AUC_CLOSE": LOSS_AUC_CLOSE,
    "SVC_CLOSE": SVC_CLOSE, "THRESHOLD_STRONG": THRESHOLD_STRONG, "UTILITY_KEPT": UTILITY_KEPT,
    "UTILITY_SMALL": UTILITY_SMALL,
}


# How each verdict label reads at a glance ("good", "fair" or "bad"): the report's badges and the Forget quality
# page's icons both come from here, so a new label is added in this module only.
VERDICT_TONES = {"forgotten": "good", "nothing to forget": "good", "looks forgotten": "fair",
                 "partly forgotten": "fair", "over-forgotten": "bad", "not forgotten": "bad"}


def verdict_tone(label: str | None) -> str:
    """The tone of a verdict label; "fair" for a label this version does not know (an older stored run)."""
    return VERDICT_TONES.get(label or "", "fair")
