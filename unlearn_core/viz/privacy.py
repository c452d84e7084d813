"""Figures of the Privacy page: attack distributions and threshold explorer, U-LiRA-lite exposure, per-layer
CKA, the embedding with original-to-unlearned links, the relearn probe and multi-seed error bars.

Every builder takes the plain dicts of unlearn_core.metrics.{threshold, ulira, cka, relearn, seeds} and
returns a Plotly figure (or a DataFrame); nothing here computes a metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.viz.style import empty_figure, method_color, styled

MODEL_COLORS = {"original": method_color("original"), "retrain": method_color("retrain"), "unlearned": "#1f77b4"}
STATISTIC_LABELS = {"confidence": "confidence, log(p_y / (1 − p_y))", "entropy": "entropy of softmax(logits / 2)"}


def attack_table(entries: dict[str, dict]) -> pd.DataFrame:
    """One row per model ('original', 'unlearned', 'retrain' -> its metrics dict with `privacy`)."""
    rows = {}
    for name, metrics in entries.items():
        attacks = (metrics.get("privacy") or {}).get("attacks", {})
        thr = attacks.get("threshold", {})
        rows[name] = {
            "SVC efficacy (confidence)": attacks.get("svc_confidence"),
            "SVC efficacy (entropy)": attacks.get("svc_entropy"),
            "Loss-attack AUC": attacks.get("loss_auc"),
            "Threshold attack acc. (confidence)": thr.get("confidence", {}).get("best_accuracy"),
            "Threshold attack acc. (entropy)": thr.get("entropy", {}).get("best_accuracy"),
            "Privacy score": thr.get("privacy_score"),
        }
    return pd.DataFrame.from_dict(rows, orient="index", dtype=object)


def distribution_figure(view: dict) -> go.Figure:
    """Overlaid histograms of the forget samples' statistic under each model, with the threshold line."""
    fig = go.Figure()
    for name, values in view["values"].items():
        fig.add_trace(go.Histogram(x=np.asarray(values), name=name, opacity=0.55, nbinsx=40,
                                   marker_color=MODEL_COLORS.get(name, method_color(name))))
    fig.add_vline(x=view["threshold"], line_dash="dash", line_color="#d62728",
                  annotation_text=f"threshold {view['threshold']:.2f}")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=STATISTIC_LABELS.get(view["statistic"], view["statistic"]))
    fig.update_yaxes(title="forget samples")
    return styled(fig, "Forget-sample distributions", legend="top", how_to_read=(
        "How the forget images' statistic is distributed under each model. The attack guesses 'trained on' on "
        "one side of the red threshold; when the unlearned histogram lies on top of retrain's, no threshold can "
        "tell them apart."))


def sweep_figure(view: dict, model: str = "unlearned") -> go.Figure:
    """Attack accuracy, FPR and FNR of telling `model` from retrain, across thresholds."""
    entry = view["vs_retrain"].get(model)
    if entry is None:
        return empty_figure(f"no {model} model to attack")
    s, x = entry["sweep"], view["thresholds"]
    fig = go.Figure()
    for key, color, label in (("accuracy", "#1f77b4", "attack accuracy"), ("fpr", "#ff7f0e", "FPR"),
                              ("fnr", "#9467bd", "FNR")):
        fig.add_trace(go.Scatter(x=x, y=s[key], name=label, mode="lines", line=dict(color=color)))
    fig.add_trace(go.Scatter(x=[min(x), max(x)], y=[0.5, 0.5], mode="lines", name="chance",
                             line=dict(color="#999", dash="dot"), hoverinfo="skip"))
    fig.add_vline(x=view["threshold"], line_dash="dash", line_color="#d62728")
    fig.update_xaxes(title="threshold")
    fig.update_yaxes(title="rate", range=[0, 1.02])
    return styled(fig, f"Telling {model} from retrain", legend="top",
                  how_to_read="For every threshold: how often the attack is right when it calls a forget image "
                              f"'{model}' {entry['direction']} it and 'retrain' otherwise. A curve that stays near "
                              "the dotted chance line means the run is indistinguishable from retrain.")


def cka_figure(cka: dict) -> go.Figure:
    """Per-layer linear CKA of the unlearned model vs original and vs retrain, forget and retain samples."""
    layers = cka.get("layers") or []
    if not layers:
        return empty_figure("no CKA computed for this run")
    fig = go.Figure()
    styles = {("vs_original", "forget"): (MODEL_COLORS["original"], "solid"),
              ("vs_original", "retain"): (MODEL_COLORS["original"], "dot"),
              ("vs_retrain", "forget"): (MODEL_COLORS["retrain"], "solid"),
              ("vs_retrain", "retain"): (MODEL_COLORS["retrain"], "dot")}
    for (ref, side), (color, dash) in styles.items():
        values = (cka.get(ref) or {}).get(side)
        if values:
            fig.add_trace(go.Scatter(x=layers, y=values, mode="lines+markers", line=dict(color=color, dash=dash),
                                     name=f"{ref.replace('_', ' ')}, {side} samples"))
    fig.update_yaxes(title="linear CKA", range=[min(0.0, *_all_values(cka)) - 0.02, 1.02])
    # a deep model's CKA compares a stated sample of its layers (metrics/cka.py): the axis says which
    fig.update_xaxes(title=f"layer ({cka['layer_sample']})" if cka.get("layer_sample") else "layer")
    return styled(fig, "Layer-wise similarity (CKA)", how_to_read=(
        "Per layer, how similar this run's representations are to the original's (grey) and to retrain's "
        "(green), on forget images (solid) and retain images (dotted); 1 = the same up to rotation and scale. "
        "A good run moves towards green on forget images and stays near 1 on retain images."))


def _all_values(cka: dict) -> list[float]:
    return [v for ref in ("vs_original", "vs_retrain") for vals in (cka.get(ref) or {}).values()
            for v in vals if v is not None]


def embedding_figure(emb: dict, class_names: list[str] | None = None) -> go.Figure:
    """Unlearned positions of every sample, original positions of forget samples, and a link for each."""
    orig, new = np.asarray(emb["original"]), np.asarray(emb["unlearned"])
    labels, is_forget = np.asarray(emb["labels"]), np.asarray(emb["is_forget"], dtype=bool)
    names = [class_names[int(k)] if class_names else str(int(k)) for k in labels]
    fig = go.Figure()
    link_x, link_y = [], []
    for i in np.flatnonzero(is_forget):
        link_x += [orig[i, 0], new[i, 0], None]
        link_y += [orig[i, 1], new[i, 1], None]
    fig.add_trace(go.Scatter(x=link_x, y=link_y, mode="lines", line=dict(color="rgba(214,39,40,0.25)", width=1),
                             name="forget sample moved", hoverinfo="skip"))
    retain = ~is_forget
    fig.add_trace(go.Scatter(x=new[retain, 0], y=new[retain, 1], mode="markers", name="retain (unlearned)",
                             marker=dict(size=5, color=labels[retain], colorscale="Turbo", opacity=0.5),
                             text=[names[i] for i in np.flatnonzero(retain)],
                             customdata=np.asarray(emb["train_index"])[retain],
                             hovertemplate="class %{text}<br>train #%{customdata}<extra></extra>"))
    for coords, label, symbol in ((orig, "forget (original)", "circle-open"), (new, "forget (unlearned)", "x")):
        fig.add_trace(go.Scatter(x=coords[is_forget, 0], y=coords[is_forget, 1], mode="markers", name=label,
                                 marker=dict(size=7, color="#d62728", symbol=symbol),
                                 customdata=np.asarray(emb["train_index"])[is_forget],
                                 hovertemplate="train #%{customdata}<extra>" + label + "</extra>"))
    fig.update_xaxes(title=f"{emb['method'].upper()} 1")
    fig.update_yaxes(title=f"{emb['method'].upper()} 2")
    return styled(fig, "Penultimate features: where the forget samples went", height=460, how_to_read=(
        "Every image placed by its penultimate features in one 2-D map. Red circles are the forget images under "
        "the original model, red crosses the same images after unlearning, linked by a line: long lines into "
        "other classes' clusters mean the run moved them away from what it had learned."))


def ulira_figure(result: dict) -> go.Figure:
    """Per forget example: the evaluated model's phi against the two shadow Gaussians' means."""
    per = result["per_example"]
    order = np.argsort(-np.asarray(per["llr_unlearned"]))
    x = np.arange(1, len(order) + 1)
    fig = go.Figure()
    for values, name, color, mode in (
        (per["mu_unlearned"], "shadow unlearned mean", "#1f77b4", "lines"),
        (per["mu_retrained"], "shadow retrained mean", MODEL_COLORS["retrain"], "lines"),
        (result["phi"]["target"], "evaluated model", "#d62728", "markers"),
        (result["phi"]["retrain"], "held-out retrain", "#2f2f2f", "markers"),
    ):
        fig.add_trace(go.Scatter(x=x, y=np.asarray(values)[order], name=name, mode=mode,
                                 marker=dict(size=5, color=color), line=dict(color=color)))
    fig.update_xaxes(title="forget examples, most exposed first")
    fig.update_yaxes(title="phi = log(p_y / (1 - p_y))")
    return styled(fig, f"U-LiRA-lite: attack accuracy {result['accuracy']:.2f} (0.5 = cannot tell)",
                  how_to_read="Per forget image (most exposed first): where the evaluated model's confidence "
                              "statistic phi falls between the shadow models' 'unlearned' (blue) and 'retrained' "
                              "(green) means. Red points close to the green line look retrained.")


def relearn_figure(probe: dict) -> go.Figure:
    """Forget accuracy against relearning steps for the unlearned model and retrain, with the target."""
    fig = go.Figure()
    for name in ("unlearned", "retrain"):
        curve = probe[name]["curve"]
        fig.add_trace(go.Scatter(x=list(range(len(curve))), y=curve, name=name, mode="lines",
                                 line=dict(color=MODEL_COLORS[name])))
    fig.add_hline(y=probe["target_acc"], line_dash="dash", line_color="#d62728",
                  annotation_text=f"target {probe['target_acc']:.2f}")
    fig.update_xaxes(title="fine-tuning steps on the forget set")
    fig.update_yaxes(title="forget accuracy", range=[0, 1.02])
    return styled(fig, "Relearn probe", legend="top", how_to_read=(
        "Fine-tuning a copy on the forget images: forget accuracy after each step, for this run and for retrain. "
        "A run that relearns much faster than retrain still holds the forgotten knowledge."))


def seeds_table(summary: dict) -> pd.DataFrame:
    """Methods x metrics as 'mean ± std' strings, with how many seeds succeeded per method."""
    cells: dict[str, dict[str, str]] = {}
    for row in summary["table"]:
        cells.setdefault(row["method"], {})[row["metric"]] = f"{row['mean']:.3f} ± {row['std']:.3f}"
    total = len(summary["seeds"])
    for method in summary["methods"]:
        ok = sum(any(r["method"] == method and r.get("status") == "ok" for r in entry["runs"])
                 for entry in summary["per_seed"])
        cells.setdefault(method, {})["seeds ok"] = f"{ok} of {total}"
    return pd.DataFrame.from_dict(cells, orient="index").reindex(index=summary["methods"],
                                                                   columns=["seeds ok", *summary["metrics"]])


def seeds_figure(summary: dict, metrics: tuple[str, ...] = ("forget_acc", "test_acc_retain_classes",
                                                            "mia_loss_auc")) -> go.Figure:
    """Bars of the mean with one-std error bars, one panel per metric."""
    metrics = tuple(m for m in metrics if m in summary["metrics"])
    if not metrics:
        return empty_figure("no metric to show")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
    lookup = {(r["method"], r["metric"]): r for r in summary["table"]}
    for col, metric in enumerate(metrics, start=1):
        methods = [m for m in summary["methods"] if (m, metric) in lookup]
        fig.add_trace(go.Bar(x=methods, y=[lookup[(m, metric)]["mean"] for m in methods],
                             error_y=dict(type="data", array=[lookup[(m, metric)]["std"] for m in methods]),
                             marker_color=[method_color(m) for m in methods], showlegend=False), row=1, col=col)
    fig.update_xaxes(tickangle=0, tickfont_size=10)
    return styled(fig, f"Mean ± std over {len(summary['seeds'])} seeds", height=380, how_to_read=(
        "Each bar is a method's mean over the seeds, the whisker one standard deviation: differences smaller "
        "than the whiskers are within seed noise."))
