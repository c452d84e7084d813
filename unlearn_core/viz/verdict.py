"""The evidence behind a verdict, as tables and a figure (Compare, Forget quality and the report share them).

Inputs are a run's `metrics` dict: `metrics["verdict"]["evidence"]` (value, band, within, why per signal) and
`metrics["signals"]` (the 95% bootstrap CI of each value, the TPR at low FPR of each attack). Nothing here
computes a metric.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from unlearn_core.metrics.signals import ATTACKS, SIGNALS
from unlearn_core.metrics.verdicts import LABELS, label_tone
from unlearn_core.viz.style import empty_figure, styled

TONE_COLORS = {"good": "#2e7d32", "fair": "#ef6c00", "bad": "#c62828", "none": "#757575"}
WITHIN_COLORS = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}
ATTACK_TITLES = {"loss": "Loss attack", "svc_confidence": "SVC (confidence)", "svc_entropy": "SVC (entropy)",
                 "threshold_confidence": "Threshold vs retrain (confidence)",
                 "threshold_entropy": "Threshold vs retrain (entropy)", "ulira": "U-LiRA-lite"}


def _ci(metrics: dict, signal: str) -> list[float] | None:
    entry = ((metrics.get("signals") or {}).get("values") or {}).get(signal)
    return entry.get("ci") if entry else None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _within_word(within: bool | None, band: list | None) -> str:
    if within is None:
        return "no band yet" if band is None else "not measured"
    return "within" if within else "outside"


def label_color(label: str) -> str:
    return TONE_COLORS[label_tone(label)]


def label_definitions() -> pd.DataFrame:
    """Every verdict label with what it means (the one definition, metrics.verdicts.LABELS)."""
    return pd.DataFrame([{"label": k, "means": v[1]} for k, v in LABELS.items()]).set_index("label")


def evidence_table(metrics: dict) -> pd.DataFrame:
    """One row per signal: value, 95% CI, band, within, why (empty for a run stored before evidence existed)."""
    rows = []
    for e in (metrics.get("verdict") or {}).get("evidence") or []:
        ci, band = _ci(metrics, e["signal"]), e["band"]
        rows.append({"signal": SIGNALS.get(e["signal"], (e["signal"],))[0],
                     "value": _pct(e["value"]),
                     "95% CI": "—" if ci is None else f"{_pct(ci[0])} to {_pct(ci[1])}",
                     "band (retrains)": "—" if band is None else f"{_pct(band[0])} to {_pct(band[1])}",
                     "within": _within_word(e["within"], band), "why": e["why"]})
    return pd.DataFrame(rows, columns=["signal", "value", "95% CI", "band (retrains)", "within", "why"])


def evidence_figure(metrics: dict, title: str = "Evidence: each signal against the retrain band") -> go.Figure:
    """Grey bar = the band of independent retrains; dot = this model's value with its 95% CI as an error bar;
    green within the band, red outside, grey not measured or no band."""
    evidence = (metrics.get("verdict") or {}).get("evidence") or []
    if not evidence:
        return empty_figure("no evidence stored for this run (it predates calibrated verdicts)")
    names = [SIGNALS.get(e["signal"], (e["signal"],))[0] for e in evidence]
    fig = go.Figure()
    for name, e in zip(names, evidence, strict=True):
        if e["band"] is not None:
            lo, hi = e["band"]
            width = max(hi - lo, 0.004)  # a zero-width band (e.g. 0% forget accuracy) still shows
            fig.add_trace(go.Bar(y=[name], x=[width], base=[lo - (width - (hi - lo)) / 2], orientation="h",
                                 marker_color="rgba(120,120,120,0.35)", showlegend=False, width=0.6,
                                 hovertemplate=f"band {_pct(lo)} to {_pct(hi)}<extra></extra>"))
    for within in (True, False, None):
        rows = [(n, e) for n, e in zip(names, evidence, strict=True)
                if e["within"] is within and e["value"] is not None]
        if not rows:
            continue
        x = [e["value"] for _, e in rows]
        cis = [_ci(metrics, e["signal"]) or [e["value"], e["value"]] for _, e in rows]
        fig.add_trace(go.Scatter(
            y=[n for n, _ in rows], x=x, mode="markers", marker=dict(size=11, color=WITHIN_COLORS[within]),
            name={True: "within the band", False: "outside the band", None: "no band / not measured"}[within],
            error_x=dict(type="data", symmetric=False, array=[c[1] - v for c, v in zip(cis, x, strict=True)],
                         arrayminus=[v - c[0] for c, v in zip(cis, x, strict=True)], thickness=1.5),
            hovertext=[e["why"] for _, e in rows], hoverinfo="text"))
    fig.update_xaxes(title="value (accuracies, attack shares and AUCs on one 0–1 scale)", range=[-0.02, 1.02],
                     tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=-0.25))
    return styled(fig, title, height=140 + 34 * len(evidence))


def verdict_summary(entries: list[dict]) -> pd.DataFrame:
    """Rows = entries (label, metrics), columns = label, utility, then one mark per signal:
    ✓ within the band, ✗ outside, – not measured / no band, each with the value."""
    rows = {}
    order: list[str] = []
    for entry in entries:
        verdict = (entry.get("metrics") or {}).get("verdict") or {}
        row = {"verdict": verdict.get("label", "no verdict"), "utility": verdict.get("utility", "")}
        for e in verdict.get("evidence") or []:
            title = SIGNALS.get(e["signal"], (e["signal"],))[0]
            if title not in order:
                order.append(title)
            mark = {True: "✓", False: "✗", None: "–"}[e["within"]]
            row[title] = f"{mark} {_pct(e['value'])}" if e["value"] is not None else mark
        rows[entry["label"]] = row
    return pd.DataFrame.from_dict(rows, orient="index", dtype=object).reindex(columns=["verdict", "utility", *order])


def styled_verdict_summary(entries: list[dict]) -> pd.io.formats.style.Styler:
    table = verdict_summary(entries).fillna("")

    def colour(value: object) -> str:
        text = str(value)
        if text in LABELS:
            return f"color: {label_color(text)}; font-weight: 600"
        if text.startswith("✓"):
            return "background-color: rgb(196,234,204)"
        if text.startswith("✗"):
            return "background-color: rgb(248,196,196)"
        return ""

    return table.style.map(colour)


def tpr_table(entries: dict[str, dict]) -> pd.DataFrame:
    """TPR at 1% and 0.1% FPR of every membership attack, one row per model (name -> metrics)."""
    rows = {}
    for name, metrics in entries.items():
        tpr = (metrics.get("signals") or {}).get("tpr_at_fpr") or {}
        row = {}
        for attack in ATTACKS:
            for fpr, label in (("0.01", "1%"), ("0.001", "0.1%")):
                value = (tpr.get(attack) or {}).get(fpr)
                row[f"{ATTACK_TITLES[attack]} TPR@{label} FPR"] = value
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index", dtype=object)


def band_values_table(band: dict) -> pd.DataFrame:
    """The band itself: per signal the oracle's and each retrain's value, and the resulting [lo, hi]."""
    rows = []
    for name, entry in (band.get("values") or {}).items():
        lo, hi = (band.get("bands") or {}).get(name, (None, None))
        row = {"signal": SIGNALS.get(name, (name,))[0], "oracle": _pct(entry.get("oracle"))}
        for seed, value in zip(band.get("retrain_seeds") or [], entry.get("retrains") or [], strict=False):
            row[f"retrain seed {seed}"] = _pct(value)
        row["band"] = "—" if lo is None else f"{_pct(lo)} to {_pct(hi)}"
        rows.append(row)
    return pd.DataFrame(rows)


def epsilon_figure(result: dict) -> go.Figure:
    """Histogram of the challenge's per-example epsilons (studies/forgetting_quality.py), bucket edges dashed."""
    eps = result.get("epsilons") or []
    if not eps:
        return empty_figure("no epsilons")
    fig = go.Figure(go.Histogram(x=eps, xbins=dict(start=0, size=0.25), marker_color="#1f77b4", showlegend=False))
    edges = [0.5 * i for i in range(1, 2 * max(1, math.ceil(math.log(max(result["n"] - 1, 1)))) + 1)]
    for edge in edges:
        fig.add_vline(x=edge, line_dash="dot", line_color="#9e9e9e")
    fig.update_xaxes(title="per-example epsilon (0 = cannot tell unlearned from retrained; 50 = the cap)")
    fig.update_yaxes(title="forget images")
    return styled(fig, f"Forgetting quality {result['forgetting_quality']:.3f} (N = {result['n']} per side)",
                  height=320)


__all__ = ["band_values_table", "epsilon_figure", "evidence_figure", "evidence_table", "label_color",
           "label_definitions", "styled_verdict_summary", "tpr_table", "verdict_summary"]
