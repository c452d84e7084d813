"""The paper-style results table on Fashion-MNIST: every method, class-wise and random 10 %, mean ± std over seeds.

    python benchmarks/fmnist_results.py [--max-train 2000] [--max-test 1000] [--seeds 0,1,2] [--band 2]
                                        [--executor sequential|local|ray] [--workers N]
                                        [--workspace DIR] [--out benchmarks/fmnist_results.md]

Runs on the sweep engine (`unlearn_core.studies.sweep`; sequential executor unless --executor local/ray is given):
one multi-seed sweep per scenario (`--only class|random` runs one of them; two processes may share --workspace),
each seed training its own base model and retrain oracle (seed_base) and its retrain band (`--band K`
independent retrains, band cells of the same sweep), every method with its defaults. A killed run resumes from
the workspace (finished cells are never run again). The base recipe is the Fashion-MNIST default of the
flattened-head CNN with mnemonic codes and a recorded update log added, so every method runs on the same
original model (as the digits default does). Columns follow SalUn's tables (Fan et al., ICLR 2024): UA is
1 - forget accuracy, RA retain accuracy, TA test accuracy (kept classes in the class-wise scenario), MIA-Efficacy
SalUn's SVC attack, Avg. Gap the mean gap to retrain over those four, then the method's run time and this
project's verdict against the seed's retrain band (its label over the seeds and how many signal checks fell
within the band). A row without results says why: the method's refusal, or each seed's run error. A run
evaluated by an earlier build is evaluated again from its stored weights (`Lab.reevaluate`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.device import environment_versions
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.methods import get_method, list_methods
from unlearn_core.models.architectures import count_parameters
from unlearn_core.models.training import update_log_refusal
from unlearn_core.store import Store
from unlearn_core.studies.sweep import SweepCell, SweepSpec, cell_variant, run_sweep, sweep_rows

SCENARIOS = (("class-wise (class 7, sneaker)", ForgetSpec(classes=(7,))),
             ("random 10%", ForgetSpec(random_fraction=0.1, seed=0)))
COLUMNS = (("UA", "forget_acc", True), ("RA", "retain_acc", False), ("TA", "test_acc_retain_classes", False),
           ("MIA-Efficacy", "mia_efficacy", False), ("Avg. Gap ↓", "avg_gap", False), ("time s", "seconds", False))


def _mean_std(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _column(records: list[dict], key: str, complement: bool, source: str = "metrics") -> str:
    values = [r[source][key] for r in records if isinstance((r.get(source) or {}).get(key), int | float)]
    if complement:
        values = [1.0 - v for v in values]
    if key == "seconds":
        return _mean_std(values, scale=1.0, digits=1)
    return _mean_std(values)


def _current(record: dict) -> bool:
    """Runs evaluated by this build: their verdict carries per-signal evidence against the retrain band."""
    return "evidence" in ((record.get("metrics") or {}).get("verdict") or {})


def _verdict(records: list[dict], band_note: str) -> str:
    verdicts = [r["metrics"]["verdict"] for r in records]
    labels = Counter(v["label"] for v in verdicts)
    text = ", ".join(f"{label} ×{n}" for label, n in labels.most_common())
    measured = [e for v in verdicts for e in v.get("evidence", []) if e.get("within") is not None]
    if measured:
        within = sum(1 for e in measured if e["within"])
        outside = Counter(e["signal"] for e in measured if not e["within"])
        text += f"; {within} of {len(measured)} signal checks within the retrain band"
        if outside:
            text += " (outside: " + ", ".join(f"{name} ×{n}" for name, n in outside.most_common(3)) + ")"
    if band_note:
        text += f"; {band_note}"
    return text or "–"


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "/")


def _why_not(lab: Lab, row: dict, cell: SweepCell) -> str:
    """Why a cell has no finished run: the run's own error, the method's refusal of the prepared model (the
    sweep skips such cells without storing a run), or that the sweep never reached it."""
    stored = lab.store.run_row(row["run_id"]) if row["run_id"] else None
    if stored is None:
        variant = cell_variant(cell)
        if lab.store.has_model("base-" + variant.key):
            base = lab.base_model(variant)
            splits = Splits.build(lab.dataset(variant), cell.forget, lab.device)
            refusal = get_method(cell.method).applicability(splits, base.artifacts)
            if refusal:
                return f"skipped: {_one_line(refusal)}"
        return "no run in the workspace yet (the sweep did not reach it)"
    error = stored.get("error") or "no reason recorded"
    return f"{stored['status']}: {_one_line(error)}"


def _grouped(reasons: list[tuple[int, str]]) -> str:
    """'seeds 0, 1: reason; seed 2: other reason' (one entry per distinct reason)."""
    by_reason: dict[str, list[int]] = {}
    for seed, reason in reasons:
        by_reason.setdefault(reason, []).append(seed)
    return "; ".join(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {reason}"
                     for reason, seeds in by_reason.items())


def _band_note(lab: Lab, record: dict, cell: SweepCell, rows: list[dict], cells: dict[str, SweepCell]) -> str:
    """'' when the run's verdict had its retrain band, else why it is unverified (its band cells' fate)."""
    if lab.cached_band(record["retrain_key"], int(record["seed"])) is not None:
        return ""
    variant = cell_variant(cell).key
    band = [r for r in rows if r["retrain_seed"] is not None and r["seed"] == cell.seed
            and cell_variant(cells[r["cell"]]).key == variant]
    if not band:
        return "no retrain band (--band 0)"
    missing = [r for r in band if r["status"] != "ok"]
    why = "; ".join(f"training seed {r['retrain_seed']}: {_why_not(lab, r, cells[r['cell']])}" for r in missing)
    return f"seed {cell.seed}'s band lacks {len(missing)} of {len(band)} retrains ({why or 'not assembled yet'})"


def run(lab: Lab, max_train: int, max_test: int, seeds: tuple[int, ...], report_only: bool = False,
        only: str | None = None, executor: str = "sequential", workers: int | None = None, band: int = 2
        ) -> tuple[str, dict]:
    options = {"max_train": max_train, "max_test": max_test}
    experiment = experiment_from_args("fashion_mnist", "cnn_flat", 0, dataset_options=options, mnemonic_t_mix=0.1,
                                      record_updates=True)
    dataset = lab.dataset(experiment)
    log_refusal = update_log_refusal(experiment.recipe, len(dataset.y_train), count_parameters(
        experiment.arch, dataset.input_shape, dataset.num_classes))
    if log_refusal:  # too large to record: the base model records none, and the methods that need it say why
        experiment = replace(experiment, recipe=replace(experiment.recipe, record_updates=False))
    methods = [m for m in list_methods() if m != "retrain"]
    lines, timings, reevaluated = [], {}, 0
    for title, forget in SCENARIOS:
        spec = SweepSpec.multi_seed(experiment, forget, methods, seeds, band=band)
        start = time.perf_counter()
        skipped: dict[str, str] = {}
        if not report_only and (only is None or title.startswith(only)):
            result = run_sweep(spec, executor=executor, workers=workers, lab=lab, progress=lambda f, m, t=title: print(
                f"[{f:5.0%}] {t}: {m}", file=sys.stderr, flush=True))
            skipped = {s.method: s.reason for s in result.skipped}
            timings[title] = time.perf_counter() - start
        rows = sweep_rows(lab, spec)
        cells = {c.key: c for c in spec.cells()}
        band_notes: dict[str, list[str]] = {}
        by_method: dict[str, list[dict]] = {}
        failures: dict[str, list[tuple[int, str]]] = {}
        for row in rows:
            if row["retrain_seed"] is not None:
                continue
            if row["status"] != "ok":
                failures.setdefault(row["method"], []).append((row["seed"], _why_not(lab, row, cells[row["cell"]])))
                continue
            record = lab.store.get_run(row["run_id"])
            if not _current(record):  # evaluated by an earlier build: evaluate its stored model again
                record = lab.reevaluate(row["run_id"])
                reevaluated += 1
            by_method.setdefault(row["method"], []).append(lab.calibrated(record))
            band_notes.setdefault(row["method"], []).append(_band_note(lab, record, cells[row["cell"]], rows, cells))
        if not by_method:
            lines += [f"## {title}", "", "No finished run.", ""]
            continue
        # one reference record per seed (every run of a seed carries the same original and oracle metrics)
        references = list({r["seed"]: r for records in by_method.values() for r in records}.values())
        header = "| method | " + " | ".join(c[0] for c in COLUMNS) + " | verdict (over seeds) |"
        lines += [f"## {title}", "", header, "|---" * (len(COLUMNS) + 2) + "|"]
        for name, source in (("original", "original"), ("retrain (oracle)", "retrain")):
            cells = [_column(references, key, comp, source) if key != "seconds" or source == "retrain" else "–"
                     for _, key, comp in COLUMNS]
            lines.append(f"| **{name}** | " + " | ".join(cells) + " | |")
        for name in methods:
            records = by_method.get(name, [])
            refusal = (lab.applicability(name, experiment, forget) or skipped.get(name)
                       or lab.variant_refusal(name, experiment))
            if not records:
                reason = f"not run: {_one_line(refusal)}" if refusal else _grouped(failures.get(name, []))
                lines.append(f"| {name} | " + " | ".join(["–"] * len(COLUMNS)) + f" | {reason} |")
                continue
            note = f" ({len(records)} of {len(seeds)} seeds)" if len(records) < len(seeds) else ""
            why = f"; {_grouped(failures[name])}" if name in failures else ""
            band_note = "; ".join(sorted(set(band_notes[name]) - {""}))
            cells = [_column(records, key, comp) for _, key, comp in COLUMNS]
            lines.append(f"| {name}{note} | " + " | ".join(cells) + f" | {_verdict(records, band_note)}{why} |")
        lines.append("")
    return "\n".join(lines), {"timings": timings, "bases": lab.store.list_models("base"),
                               "reevaluated": reevaluated, "log_refusal": log_refusal}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-train", type=int, default=2000)
    parser.add_argument("--max-test", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workspace", default=None, help="resumable workspace (default: a new temporary one)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("fmnist_results.md")))
    parser.add_argument("--report-only", action="store_true",
                        help="write the table from the runs already in --workspace, running nothing")
    parser.add_argument("--only", choices=["class", "random"], default=None,
                        help="run one scenario's sweep (the table still shows both from the workspace)")
    parser.add_argument("--executor", default="sequential", help="sweep executor: sequential, local or ray")
    parser.add_argument("--workers", type=int, default=None, help="workers of the local or ray executor")
    parser.add_argument("--band", type=int, default=2, metavar="K",
                        help="independent retrains per seed for the retrain band that calibrates the verdicts "
                             "(0: none, every verdict unverified)")
    args = parser.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    home = Path(args.workspace) if args.workspace else Path(os.environ.get("TMPDIR", "/tmp")) / f"fmnist-{os.getpid()}"
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    lab = Lab(Store(home), device="cpu")
    tables, info = run(lab, args.max_train, args.max_test, seeds, args.report_only, args.only, args.executor,
                       args.workers, args.band)
    accuracies = [f"seed {m['meta']['spec']['seed']}: train {m['meta']['train_acc']:.3f}, test "
                  f"{m['meta']['test_acc']:.3f}" for m in info["bases"] if m.get("meta", {}).get("train_acc")]
    versions = environment_versions()
    executor = args.executor + (f" with {args.workers} workers" if args.workers else "")
    command = " ".join(["python benchmarks/fmnist_results.py", f"--max-train {args.max_train}",
                        f"--max-test {args.max_test}", f"--seeds {args.seeds}", f"--band {args.band}",
                        f"--executor {args.executor}", *([f"--workers {args.workers}"] if args.workers else [])])
    band_text = (f"Verdict: this project's label per seed (docs/verdicts.md) against that seed's retrain band "
                 f"({args.band} independent retrains besides the oracle, trained by the same sweep), and how many "
                 "of its signal checks fell within the band." if args.band else
                 "Verdict: 'unverified' throughout, as no retrain band was trained (--band 0).")
    text = "\n".join([
        f"# Fashion-MNIST: every method, class-wise and random 10 %, mean ± std over {len(seeds)} seed"
        + ("s" if len(seeds) > 1 else ""), "",
        f"Generated by `{command}` on {started}, CPU, torch {versions['torch']} ({torch.get_num_threads()} thread).",
        "",
        f"**Size: {args.max_train:,} training and {args.max_test:,} test images** (seeded stratified subsets of the "
        "official 60,000 / 10,000), not the full data: this table was made on a 2-core machine shared with other "
        "busy sessions (load average " + ", ".join(f"{v:.1f}" for v in load_before) + " at the start). The full "
        "60k table is the same command without the size flags, meant for a GPU. On small subsets 10 epochs are few "
        "optimizer steps: the base models are under-trained (accuracies below), so these numbers show how the "
        "methods compare on a weak model, not what they do on the 60k model.", "",
        "Base model: `cnn_flat` (421,642 parameters), Adam 1e-3, cosine, 10 epochs, batch 128, with mnemonic codes "
        + ("(10% of images) and a recorded update log so every method runs on the same original model; "
           if not info["log_refusal"] else "(10% of images) and no update log: at this size "
           + info["log_refusal"].split(";")[0] + ", so the methods that subtract recorded updates say so in their "
           "rows; ") + "base models (" + "; ".join(accuracies) + "). Each seed trains its own base model, retrain "
        "oracle and retrain band and "
        f"runs every method with its defaults (the sweep engine, executor {executor}). Numbers are percentages "
        "(time in seconds): UA = 100 - forget accuracy, RA "
        "retain accuracy, TA test accuracy (on the kept classes in the class-wise scenario, as SalUn reports it), "
        "MIA-Efficacy SalUn's SVC attack (share of forget images called non-member), Avg. Gap the mean absolute "
        "gap to the retrain oracle of the same seed over UA, RA, TA and MIA-Efficacy. The rows of the original and "
        "the oracle are their own metrics. Times were measured on the loaded machine: compare them with each "
        "other, not with other machines. " + band_text
        + (f" {info['reevaluated']} runs stored by an earlier build were evaluated again from their weights."
           if info["reevaluated"] else ""), "",
        tables,
        ("Sweep wall time: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in info["timings"].items()) + "."
         if info["timings"] else "Written from the stored runs (--report-only)."), ""])
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
