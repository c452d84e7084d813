"""The stakeholder report: one self-contained HTML file of stored runs, plus CSV and JSON exports.

The HTML needs no network: plotly.js is inlined once, images are base64 PNGs, the stylesheet
(assets/report.css) is inlined. Every figure comes from `unlearn_core.viz` / `unlearn_core.analysis`, so the
report draws what the dashboard draws. Every string taken from a run record, a dataset or a method card is
HTML-escaped before it is written.

Runs are grouped by scenario (base model and forget set), like the dashboard's Compare page; each scenario
shows the experiment, the forget set with thumbnails, the verdicts and metrics against the retrain oracle, the
trade-off, per-class, privacy, method-internal and attribution figures, and the method cards. Runs that failed
are listed with their reason.

The JSON export holds every run's full record; each record is a run configuration that
`unlearn run --config run.json` re-runs to the same metrics on the same device (see presets.rerun).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn

from unlearn_core import UserInputError, __version__
from unlearn_core.analysis import attribute
from unlearn_core.data import ForgetSpec, ImageDataset, Splits
from unlearn_core.device import device_label, environment_versions
from unlearn_core.experiment import BaseModel, ExperimentSpec, Lab
from unlearn_core.labels import variant_label
from unlearn_core.methods import PanelContext, panel_views
from unlearn_core.metrics import metric_info
from unlearn_core.metrics.verdicts import LABELS, label_tone
from unlearn_core.resources import assets_dir
from unlearn_core.results import RunRecord, Scenario
from unlearn_core.viz import captions, compare, inside
from unlearn_core.viz import model as vm
from unlearn_core.viz import privacy as vp
from unlearn_core.viz import verdict as vv
from unlearn_core.viz.style import how_to_read

THUMBNAILS = 16  # forget images shown as thumbnails
ATTRIBUTED = 4  # forget images explained with Integrated Gradients
ATTRIBUTED_RUNS = 6  # unlearned models in the attribution grid (beside original and retrain)
EXPORT_KEYS = (*compare.TABLE_KEYS, "changed_params", "mia_loss_accuracy")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


# ---- collecting the runs ---------------------------------------------------------------------------------
@dataclass
class Collected:
    scenarios: list[Scenario]  # the runs grouped by scenario (unlearn_core.results), in the order asked for
    orphans: list[RunRecord]  # runs with no stored configuration (interrupted, still running)


def collect(lab: Lab, run_ids: list[str]) -> Collected:
    if not run_ids:
        raise UserInputError("choose at least one run for the report")
    return Collected(*lab.scenarios(run_ids))


# ---- small HTML pieces -----------------------------------------------------------------------------------
class Figures:
    """Numbers the figure divs of one report (ids must be unique in the page)."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: go.Figure, caption: str | None = None) -> str:
        self.count += 1
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{self.count}",
                          config={"displaylogo": False, "responsive": True})
        caption = caption or how_to_read(fig)
        note = f"<p class='caption'>{esc(caption)}</p>" if caption else ""
        return f"<figure class='figure'>{div}{note}</figure>"


def png_data_uri(image: np.ndarray, size: int) -> str:
    """(H, W, C) uint8 -> data: URI of a PNG scaled (nearest neighbour, so pixels stay crisp) to `size` px."""
    from PIL import Image

    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    picture = Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def facts_table(rows: list[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table class='facts'>{body}</table>"


def frame_html(frame: pd.DataFrame, formatter=None) -> str:
    """A plain DataFrame as an escaped HTML table; None shows as a dash."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for label, row in frame.iterrows():
        cells = "".join(f"<td>{esc('—' if v is None else (formatter(v) if formatter else v))}</td>" for v in row)
        rows.append(f"<tr><th>{esc(label)}</th>{cells}</tr>")
    return f"<table class='data'><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def metrics_table_html(entries: list[dict], uid: str) -> str:
    """The Compare page's coloured table (viz.compare.styled_table) with every label and value escaped."""
    styler = compare.styled_table(entries).set_uuid(uid)
    styler = styler.format(escape="html").format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    return styler.to_html(table_attributes='class="metrics"')


_INLINE = [(re.compile(r"`([^`]+)`"), r"<code>\1</code>"), (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>")]


def markdown_html(text: str) -> str:
    """Our method cards' markdown subset: headings, paragraphs, bullet lists, bold, italic, code. The text is
    escaped first, so nothing in a card can inject markup."""
    def inline(line: str) -> str:
        out = esc(line)
        for pattern, repl in _INLINE:
            out = pattern.sub(repl, out)
        return out

    blocks, paragraph, items = [], [], []

    def flush() -> None:
        if paragraph:
            blocks.append(f"<p>{inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            blocks.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,4})\s+(.*)$", line)
        if not line:
            flush()
        elif heading:
            flush()
            level = min(6, len(heading.group(1)) + 2)  # a card's "#" sits below the report's own headings
            blocks.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif re.match(r"^[-*]\s+", line):
            if paragraph:
                flush()
            items.append(re.sub(r"^[-*]\s+", "", line))
        elif items and raw.startswith((" ", "\t")):
            items[-1] += " " + line
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return "\n".join(blocks)


def method_card(method: str) -> str:
    """The card's head (title, tagline, citation, idea) in view, the rest folded."""
    path = assets_dir() / "method_cards" / f"{method}.md"
    if not path.is_file():
        return f"<div class='card'><h4>{esc(method)}</h4><p class='muted'>No method card for {esc(method)}.</p></div>"
    text = path.read_text()
    paragraphs = re.split(r"\n\s*\n", text.strip())
    head, rest = "\n\n".join(paragraphs[:2]), "\n\n".join(paragraphs[2:])
    folded = f"<details><summary>Full method card</summary>{markdown_html(rest)}</details>" if rest else ""
    return f"<div class='card'>{markdown_html(head)}{folded}</div>"


def percent(value: object) -> str:
    return "—" if not isinstance(value, int | float) or not math.isfinite(value) else f"{100 * value:.1f}%"


# ---- the sections of one scenario -----------------------------------------------------------------------
@dataclass
class Loaded:
    """What a scenario needs beyond the records: data, splits and models."""

    dataset: ImageDataset
    splits: Splits
    base: BaseModel
    oracle: BaseModel
    models: dict[str, nn.Module]  # entry label -> unlearned model (runs whose weights were stored)


def load(lab: Lab, scenario: Scenario) -> Loaded:
    spec = ExperimentSpec.from_dict(dict(scenario.experiment))
    forget = scenario.forget_spec()
    base = lab.base_for_record({"experiment_key": scenario.experiment_key, "experiment": scenario.experiment})
    dataset = lab.dataset(spec)
    models = {}
    for entry in scenario.entries():
        model = lab.run_model(entry["run_id"]) if entry.get("run_id") else None
        if model is not None:
            models[entry["label"]] = model
    return Loaded(dataset, Splits.build(dataset, forget, lab.device), base, lab.retrain_oracle(base, forget), models)


def experiment_section(scenario: Scenario, loaded: Loaded) -> str:
    spec = ExperimentSpec.from_dict(dict(scenario.experiment)).resolved()
    recipe = spec.recipe
    meta = loaded.base.meta
    first = scenario.records[0] if scenario.records else (scenario.problems[0] if scenario.problems else None)
    training = f"{recipe.epochs} epochs, {recipe.optimizer} (lr {recipe.lr:g}), batch {recipe.batch_size}, " \
               f"{recipe.schedule} schedule"
    if recipe.mnemonic_t_mix > 0:
        training += f", mnemonic codes mixed in (t_mix {recipe.mnemonic_t_mix:g})"
    if recipe.record_updates:
        training += f", updates recorded (rho {recipe.record_rho:g})"
    options = ", ".join(f"{k}={v}" for k, v in spec.dataset_options) or "defaults"
    shape = "×".join(map(str, loaded.dataset.input_shape))
    rows = [
        ("Dataset", f"{loaded.dataset.name} ({options}): {len(loaded.dataset.y_train):,} training and "
                    f"{len(loaded.dataset.y_test):,} test images of shape {shape}"),
        ("Classes", ", ".join(str(c) for c in loaded.dataset.class_names)),
        ("Model", f"{spec.arch}, {int(meta.get('num_params') or 0):,} parameters; test accuracy "
                  f"{percent(meta.get('test_acc'))}, training accuracy {percent(meta.get('train_acc'))}"),
        ("Training recipe", training),
        ("Seeds", f"training, forget-set sampling and methods: {spec.seed}" + (
            f"; run seeds {', '.join(sorted({str(r.seed) for r in scenario.records}))}"
            if scenario.records else "")),
        ("Retrain oracle", f"same recipe on the retain set; test accuracy {percent(scenario.retrain.get('test_acc'))}"
                           f", trained in {scenario.retrain.get('seconds') or 0:.1f} s"),
        ("Device", first.device if first is not None and first.device else "?"),
        ("Model key", scenario.experiment_key),
    ]
    return f"<h3>Experiment</h3>{facts_table(rows)}"


def forget_section(scenario: Scenario, loaded: Loaded) -> str:
    summary = scenario.forget_summary or loaded.splits.summary()
    names = loaded.dataset.class_names
    per_class = summary.get("forget_per_class") or []
    spread = ", ".join(f"{names[i]}: {n}" for i, n in enumerate(per_class) if n)
    idx = loaded.splits.forget_idx
    shown = idx[torch.linspace(0, len(idx) - 1, min(THUMBNAILS, len(idx))).round().long()] if len(idx) else idx
    images = loaded.dataset.to_display(loaded.dataset.x_train[shown])
    labels = loaded.dataset.y_train[shown].tolist()
    size = max(64, images.shape[1] * 2) if len(images) else 64
    tiles = "".join(
        f"<figure class='thumb'><img src='{png_data_uri(img, size)}' alt='training image {int(i)}' "
        f"width='{size}' height='{size}'><figcaption>#{int(i)} · {esc(names[label])}</figcaption></figure>"
        for img, i, label in zip(images, shown.tolist(), labels, strict=True))
    text = (f"<p><b>{esc(summary.get('description', ''))}</b> ({esc(summary.get('scenario', ''))} forgetting): "
            f"{int(summary.get('forget_size', len(idx))):,} training images forgotten, "
            f"{int(summary.get('retain_size', 0)):,} kept. By class: {esc(spread)}.</p>")
    more = f"<p class='caption'>{len(shown)} of {len(idx):,} forget images, evenly spaced.</p>"
    return f"<h3>Forget set</h3>{text}<div class='thumbs'>{tiles}</div>{more}"


def verdict_section(scenario: Scenario, entries: list[dict], figures: Figures) -> str:
    items = []
    for entry in entries:
        if entry["label"] == "original":
            continue
        metrics = entry["metrics"] or {}
        verdict = metrics.get("verdict") or {}
        label = verdict.get("label", "no verdict")
        kind = {"none": "neutral"}.get(label_tone(label), label_tone(label))
        utility = verdict.get("utility", "")
        evidence = ""
        if verdict.get("evidence"):
            evidence = (f"<details><summary>evidence: {sum(e['within'] is True for e in verdict['evidence'])} of "
                        f"{len(verdict['evidence'])} signals within the band</summary>"
                        + figures.html(vv.evidence_figure(metrics, f"{entry['label']}: evidence against the band"))
                        + f"<div class='table-wrap'>{frame_html(vv.evidence_table(metrics).set_index('signal'))}"
                        "</div></details>")
        items.append(f"<li><span class='method'>{esc(entry['label'])}</span>"
                     f"<span class='badge {kind}'>{esc(label)}</span>"
                     + (f"<span class='badge neutral'>{esc(utility)}</span>" if utility else "")
                     + f"<div class='verdict-text'>{esc(verdict.get('text', ''))}</div>{evidence}</li>")
    for record in scenario.problems:
        items.append(f"<li><span class='method'>{esc(record.method)}</span><span class='badge bad'>"
                     f"{esc(record.status)}</span><div class='verdict-text'>{esc(record.error or '')}"
                     "</div></li>")
    band = (scenario.retrain.get("verdict") or {}).get("band")
    how = (f"against a band of {band['k']} independent retrains (seeds {', '.join(map(str, band['retrain_seeds']))}) "
           "besides the oracle" if band else "with no retrain band yet, so no run is given a verdict (unverified)")
    labels = "".join(f"<li><b>{esc(name)}</b>: {esc(text)}</li>" for name, (_, text) in LABELS.items())
    return ("<h3>Verdicts</h3><p class='caption'>Each signal of a run (accuracies, attacks, the representation "
            f"probe) judged {esc(how)}: a signal is within the band when its 95% bootstrap interval overlaps it, "
            "and a run is <i>forgotten</i> only when every measured signal is. Evidence with error bars under each "
            f"run; the rule is in docs/verdicts.md.</p><ul class='verdicts'>{''.join(items)}</ul>"
            f"<details><summary>What the labels mean</summary><ul>{labels}</ul></details>")


def metrics_section(entries: list[dict], uid: str) -> str:
    return ("<h3>Metrics against the retrain oracle</h3>"
            f"<p class='caption'>{esc(captions.METRICS_COLOURS)} {esc(captions.METRICS_TABLE)}</p>"
            f"<div class='table-wrap'>{metrics_table_html(entries, uid)}</div>")


def comparison_figures(entries: list[dict], retrain: dict, class_names: list[str], figures: Figures,
                       forgotten: tuple[int, ...] = ()) -> str:
    parts = ["<h3>Trade-off and cost</h3>",
             figures.html(compare.forget_utility_scatter(entries, retrain)),
             figures.html(compare.gap_bars(entries)), figures.html(compare.cost_bars(entries)),
             "<h3>Per-class accuracy</h3>",
             figures.html(compare.per_class_heatmap(entries, class_names, tuple(forgotten)))]
    return "".join(parts)


def privacy_section(entries: list[dict]) -> str:
    table = vp.attack_table({e["label"]: e["metrics"] or {} for e in entries})
    tpr = vv.tpr_table({e["label"]: e["metrics"] or {} for e in entries})
    return (f"<h3>Privacy attacks</h3><p class='caption'>{esc(captions.PRIVACY_ATTACKS)}</p>"
            f"<div class='table-wrap'>{frame_html(table, lambda v: f'{v:.3f}')}</div>"
            f"<p class='caption'>{esc(captions.TPR_AT_LOW_FPR)}</p>"
            f"<div class='table-wrap'>{frame_html(tpr, lambda v: f'{v:.3f}')}</div>")


def diagnostics_figures(entry: dict, diag: dict, class_names: list[str], figures: Figures) -> list[str]:
    """One run's panels (declared beside its method; the Inside page draws the same), as HTML."""
    record = entry.get("record")
    forgotten = tuple(record.forget_spec().classes) if record is not None else ()
    ctx = PanelContext(entry["label"], tuple(class_names), entry.get("params") or {}, forgotten)
    out = []
    for panel, items in panel_views(entry["method"], diag, ctx):
        out.append(f"<h5>{esc(panel.title)}</h5><p class='caption'>{esc(panel.caption)}</p>")
        for item in items:
            if item.figure is None:
                out.append(f"<p class='caption'>{esc(item.caption)}</p>")
            else:
                out.append(figures.html(item.figure, item.caption or None))
    return out


def internals_section(lab: Lab, scenario: Scenario, loaded: Loaded, entries: list[dict], figures: Figures) -> str:
    parts = ["<h3>Inside the methods</h3><p class='caption'>The technical appendix: what each method computed on "
             "its way (from the run's stored diagnostics) and how far it moved every layer.</p>"]
    changes = {e["label"]: lab.layer_change(e["run_id"]) for e in entries if e.get("run_id")}
    changes = {label: change for label, change in changes.items() if change is not None}
    if changes:
        parts.append(figures.html(inside.layer_change_bars(changes)))
    for entry in entries:
        if not entry.get("run_id"):
            continue
        views = diagnostics_figures(entry, lab.run_diagnostics(entry["run_id"]), loaded.dataset.class_names, figures)
        if views:
            parts.append(f"<h4>{esc(entry['label'])}</h4>" + "".join(views))
    return "".join(parts)


def attribution_section(loaded: Loaded, figures: Figures) -> str:
    x, y = loaded.splits.forget()
    if not len(x):
        return ""
    pick = torch.linspace(0, len(x) - 1, min(ATTRIBUTED, len(x))).round().long().to(x.device)
    x, y = x[pick], y[pick]
    runs = list(loaded.models)[:ATTRIBUTED_RUNS]
    models = {"original": loaded.base.model, **{k: loaded.models[k] for k in runs}, "retrain": loaded.oracle.model}
    maps = {label: attribute(model, x, y, "integrated_gradients") for label, model in models.items()}
    names = loaded.dataset.class_names
    ids = loaded.splits.forget_idx[pick.cpu()].tolist()
    titles = [f"#{i} (true {names[int(t)]})" for i, t in zip(ids, y.tolist(), strict=True)]
    images = loaded.dataset.to_display(x)
    fig = vm.attribution_grid(images, maps, titles, "Integrated Gradients for the true class, forget images")
    fig.update_layout(height=max(fig.layout.height or 0, 80 + 170 * len(images)))
    left_out = len(loaded.models) - len(runs)
    note = (f" {left_out} more unlearned model{'s' if left_out > 1 else ''} not shown." if left_out > 0 else "")
    return ("<h3>What the models look at</h3>" + figures.html(
        fig, "Captum Integrated Gradients (all-zero baseline) for the true class. " + captions.ATTRIBUTIONS + note))


def cards_section(entries: list[dict], problems: list[RunRecord]) -> str:
    methods = list(dict.fromkeys([e["method"] for e in entries if e["method"] != "original"]
                                 + [p.method for p in problems]))
    return "<h3>The methods</h3><div class='cards'>" + "".join(method_card(m) for m in methods) + "</div>"


def reproduce_section(scenario: Scenario) -> str:
    from unlearn_core.presets import run_config

    items = []
    for record in [*scenario.records, *scenario.problems]:
        config = json.dumps(run_config(record.to_dict()), indent=2, sort_keys=True)
        items.append(f"<details><summary>{esc(record.method)} · run {esc(record.run_id)} · seed "
                     f"{esc(record.seed)} · {esc(record.device)}</summary><pre>{esc(config)}</pre>"
                     "</details>")
    return ("<h3>Reproduce</h3><p class='caption'>Save a configuration as <code>run.json</code> and run <code>unlearn "
            "run --config run.json --device cpu</code>: on the same device it gives the same metrics (all but the "
            "run time). The JSON export holds every configuration.</p>" + "".join(items))


def scenario_html(lab: Lab, scenario: Scenario, number: int, figures: Figures) -> str:
    loaded = load(lab, scenario)
    entries = scenario.entries()
    parts = [f"<section class='scenario'><h2>{number}. {esc(scenario.title)}</h2>",
             experiment_section(scenario, loaded), forget_section(scenario, loaded),
             verdict_section(scenario, entries, figures), metrics_section(entries, f"m{number}")]
    if scenario.records:
        parts += [comparison_figures(entries, scenario.retrain, loaded.dataset.class_names, figures,
                                     scenario.forget_spec().classes),
                  privacy_section(entries), attribution_section(loaded, figures)]
    parts.append(cards_section(entries, scenario.problems))
    if scenario.records:
        parts.append(internals_section(lab, scenario, loaded, entries, figures))
    parts += [reproduce_section(scenario), "</section>"]
    return "".join(parts)


def highlights(scenarios: list[Scenario]) -> str:
    """The first thing a reader sees: per scenario, the run closest to retrain and how many forgot."""
    items = []
    for s in scenarios:
        ok = [r.raw for r in s.records if r.method != "retrain"]
        if not ok:
            items.append(f"<li><b>{esc(s.title)}</b>: no finished unlearning run.</li>")
            continue
        best = min(ok, key=lambda r: r["metrics"].get("avg_gap", math.inf))
        forgot = sum((r["metrics"].get("verdict") or {}).get("label") == "forgotten" for r in ok)
        fastest = min(ok, key=lambda r: r["metrics"].get("seconds") or math.inf)
        items.append(
            f"<li><b>{esc(s.title)}</b>: {forgot} of {len(ok)} run{'s' if len(ok) > 1 else ''} judged "
            f"<i>forgotten</i>. Closest to retrain: <b>{esc(best['method'])}</b> (average gap "
            f"{percent(best['metrics'].get('avg_gap'))}, forget accuracy {percent(best['metrics'].get('forget_acc'))}"
            f" vs retrain {percent(s.retrain.get('forget_acc'))}, kept-class test accuracy "
            f"{percent(best['metrics'].get('test_acc_retain_classes'))} vs original "
            f"{percent(s.original.get('test_acc_retain_classes'))}). Fastest: <b>{esc(fastest['method'])}</b> "
            f"({fastest['metrics'].get('seconds') or 0:.2f} s; retraining took {s.retrain.get('seconds') or 0:.1f} s)."
            + (f" {len(s.problems)} run{'s' if len(s.problems) > 1 else ''} did not finish (see Verdicts)."
               if s.problems else "") + "</li>")
    return f"<div class='highlights'><h2>At a glance</h2><ul>{''.join(items)}</ul></div>"


def report_html(lab: Lab, run_ids: list[str]) -> str:
    """The whole report as one HTML document."""
    import plotly.offline

    collected = collect(lab, run_ids)
    figures = Figures()
    body = [scenario_html(lab, s, i + 1, figures) for i, s in enumerate(collected.scenarios)]
    if collected.orphans:
        rows = "".join(f"<li><b>{esc(r.run_id)}</b> ({esc(r.status)}): {esc(r.error or '')}</li>"
                       for r in collected.orphans)
        body.append(f"<section><h2>Runs without results</h2><ul>{rows}</ul></section>")
    versions = environment_versions()
    css_path = assets_dir() / "report.css"
    css = css_path.read_text() if css_path.is_file() else ""
    n_runs = sum(len(s.records) + len(s.problems) for s in collected.scenarios) + len(collected.orphans)
    intro = ("<p class='lead'><b>Machine unlearning</b> removes the influence of chosen training images from a trained "
             "model without training it again. The yardstick is the <b>retrain oracle</b>: the same recipe trained "
             "only on the kept images. A good method lands close to it: it forgets what the oracle never saw, keeps "
             "what the oracle knows, and costs far less than retraining.</p>")
    footer = facts_table([("Generated", time.strftime("%Y-%m-%d %H:%M:%S")), ("Unlearning Lab", __version__),
                          *[(k, v) for k, v in versions.items() if k != "unlearning_lab"],
                          ("Report built on", device_label(lab.device)), ("Runs", ", ".join(run_ids))])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Unlearning report</title>"
        f"<style>{css}</style><script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script></head><body>"
        "<header><h1>Unlearning report</h1>"
        f"<p class='muted'>{n_runs} run{'s' if n_runs != 1 else ''} in {len(collected.scenarios)} "
        f"scenario{'s' if len(collected.scenarios) != 1 else ''} · Unlearning Lab {esc(__version__)} · generated "
        f"{esc(time.strftime('%Y-%m-%d %H:%M'))}</p></header><main>"
        f"{intro}{highlights(collected.scenarios)}{''.join(body)}"
        f"<section><h2>Software and environment</h2>{footer}</section></main></body></html>"
    )


# ---- CSV and JSON ----------------------------------------------------------------------------------------
def metrics_frame(lab: Lab, run_ids: list[str]) -> pd.DataFrame:
    """One row per model per scenario (original, retrain, every run, failed runs too), every scalar metric,
    per-class accuracies, the verdict and the full parameters."""
    collected = collect(lab, run_ids)
    rows = []
    for number, s in enumerate(collected.scenarios, start=1):
        names = lab.dataset(ExperimentSpec.from_dict(dict(s.experiment))).class_names
        entries = s.entries() + [{"label": variant_label(p.method, p.params), "method": p.method, "metrics": None,
                                  "record": p} for p in s.problems]
        for entry in entries:
            record = entry["record"].to_dict() if entry.get("record") else {}
            metrics = entry["metrics"] or {}
            verdict = metrics.get("verdict") or {}
            row = {"scenario": number, "scenario_title": s.title, "label": entry["label"], "method": entry["method"],
                   "run_id": record.get("run_id"), "status": record.get("status", "ok"),
                   "dataset": s.experiment["dataset"], "arch": s.experiment["arch"],
                   "forget": ForgetSpec.from_dict(s.forget).describe(), "seed": record.get("seed"),
                   "device": record.get("device")}
            row.update({k: metrics.get(k) for k in EXPORT_KEYS})
            for i, acc in enumerate(metrics.get("per_class_acc") or []):
                row[f"test_acc_class_{names[i]}"] = acc
            row.update({"verdict": verdict.get("label"), "utility": verdict.get("utility"),
                        "verdict_text": verdict.get("text"), "error": record.get("error"),
                        "params": json.dumps(record.get("params"), sort_keys=True) if record else None})
            rows.append(row)
    for r in collected.orphans:
        rows.append({"label": r.run_id, "run_id": r.run_id, "status": r.status, "error": r.error})
    return pd.DataFrame(rows)


def metrics_csv(lab: Lab, run_ids: list[str]) -> str:
    return metrics_frame(lab, run_ids).to_csv(index=False)


def report_json(lab: Lab, run_ids: list[str]) -> str:
    """Every metric and full configuration; each entry of a scenario's `runs` is a complete run record that
    `unlearn run --config` accepts."""
    collected = collect(lab, run_ids)
    payload = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"), "unlearning_lab": __version__,
        "versions": environment_versions(), "run_ids": list(run_ids),
        "how_to_rerun": "save one entry of scenarios[i].runs as run.json, then: unlearn run --config run.json",
        "metric_titles": {k: metric_info(k).title for k in EXPORT_KEYS if k != "mia_loss_accuracy"},
        "scenarios": [{"title": s.title, "experiment_key": s.experiment_key, "experiment": s.experiment,
                       "forget": s.forget, "forget_summary": s.forget_summary, "original": s.original,
                       "retrain": s.retrain, "runs": [r.to_dict() for r in (*s.records, *s.problems)]}
                      for s in collected.scenarios],
        "runs_without_results": [r.to_dict() for r in collected.orphans],
    }
    return json.dumps(payload, indent=1, sort_keys=True, allow_nan=False, default=str)


# ---- files -----------------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UserInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_report(lab: Lab, run_ids: list[str], out: Path) -> Path:
    """Writes the self-contained HTML report of `run_ids` to `out` and returns the path."""
    return _write(out, report_html(lab, run_ids))


def write_exports(lab: Lab, run_ids: list[str], csv_path: Path | None = None,
                  json_path: Path | None = None) -> dict[str, Path]:
    written = {}
    if csv_path:
        written["csv"] = _write(csv_path, metrics_csv(lab, run_ids))
    if json_path:
        written["json"] = _write(json_path, report_json(lab, run_ids))
    return written
