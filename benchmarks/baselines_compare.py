"""Every baseline on the default scenario (digits, CNN, seed 0, forget class 3), written as markdown.

    python benchmarks/baselines_compare.py [--out benchmarks/baselines_compare.md] [--threads N] [--no-variants]
                                           [--cli]

Step 1 times the full comparison `Lab.compare(..., "all")` (every registered method, plus the original and the
retrain oracle) in a fresh private workspace, so base-model and oracle training are included in the wall time.
The baseline rows of that comparison form the main table. Step 2 runs a few non-default settings through
`Lab.run` to show where a baseline is sensitive or collapses (these are not part of the timed comparison).
With --cli, step 3 runs `unlearn compare --dataset digits --arch cnn --forget-classes 3 --methods all --json` in
another fresh workspace and tabulates its baseline rows too, so the CLI path is checked against the Lab's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import get_method, list_methods
from unlearn_core.store import Store

FULL_COMPARE_LIMIT_S = 180.0
COLUMNS = ("forget_acc", "retain_acc", "test_acc", "test_acc_retain_classes", "mia_efficacy", "avg_gap", "seconds")
FORGET = ForgetSpec(classes=(3,))


@dataclass(frozen=True)
class Variant:
    method: str
    params: dict = field(default_factory=dict)
    why: str = ""


VARIANTS = [
    Variant("finetune", {"epochs": 10, "lr": 0.05}, "FT needs more and larger steps than its default to drop class 3"),
    Variant("gradient_ascent", {"lr": 5e-3}, "GA at 10x its default lr"),
    Variant("gradient_ascent", {"lr": 2e-2}, "GA with a large lr: the ascent runs away"),
    Variant("neggrad_plus", {"epochs": 4}, "one epoch more than the default: NegGrad+ sits on a cliff"),
    Variant("neggrad_plus", {"beta": 0.99}, "beta closer to 1: the forget term is too weak to act in 3 epochs"),
    Variant("l1_sparse", {"alpha": 5e-4}, "the paper's alpha, too weak on a 53k-parameter CNN"),
    Variant("ssd", {"alpha": 100.0}, "a stricter selection threshold than the paper's 10"),
    Variant("ssd", {"composition": "shuffled"}, "i.i.d. importance batches instead of the official class-grouped ones"),
    Variant("scrub", {"optimizer": "sgd", "lr": 5e-4, "epochs": 3, "msteps": 2, "kd_T": 4.0, "alpha": 0.001,
                      "gamma": 0.99, "weight_decay": 5e-4, "lr_decay_epochs": ""},
            "the large-scale wrapper settings of methods.md section 6"),
    Variant("fisher_forgetting", {"reset_forgotten_rows": False}, "noise only, without the class-row reset"),
    Variant("random_label", {"order": "shuffled_union"}, "SalUn's CIFAR-100 ordering"),
    Variant("salun", {"gamma": 0.1}, "a smaller saliency mask"),
]


def _progress(fraction: float, message: str) -> None:
    print(f"\r[{fraction:6.1%}] {message[:90]:90s}", end="", file=sys.stderr, flush=True)


def _cell(value: object, key: str) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.2f}" if key == "seconds" else f"{value:.3f}"


def _row(label: str, run: dict) -> str:
    metrics = run.get("metrics") or {}
    cells = [_cell(metrics.get(k), k) for k in COLUMNS]
    verdict = metrics.get("verdict") or {}
    outcome = f"{verdict.get('label', '')}, {verdict.get('utility', '')}".strip(", ") if verdict else ""
    if run.get("status") != "ok":
        outcome = f"**{run.get('status')}**: {run.get('error')}"
    return f"| {label} | " + " | ".join(cells) + f" | {outcome} |"


def _header(first: str) -> list[str]:
    return [f"| {first} | " + " | ".join(COLUMNS) + " | outcome |", "|---" * (len(COLUMNS) + 2) + "|"]


def _baseline_rows(runs: list[dict], skipped: list[dict], baselines: list[str]) -> list[str]:
    by_method = {run["method"]: run for run in runs}
    lines = [*_header("method"), _row("original", by_method["original"]),
             _row("retrain (oracle)", by_method["retrain"])]
    lines += [_row(name, by_method[name]) for name in baselines if name in by_method]
    lines += [f"| {s['method']} | " + " | ".join("–" for _ in COLUMNS) + f" | skipped: {s['reason']} |"
              for s in skipped if s["method"] in baselines]
    return lines


def _cli_compare(threads: int | None) -> tuple[dict, float]:
    """`unlearn compare ... --methods all --json` in a fresh workspace; returns its JSON and the wall time."""
    env = dict(os.environ, UNLEARN_HOME=tempfile.mkdtemp(prefix="ul_baselines_cli_"))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "unlearn_core.cli", "compare", "--dataset", "digits", "--arch", "cnn",
               "--forget-classes", "3", "--methods", "all", "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout), time.perf_counter() - start


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-variants", action="store_true", help="only the timed full comparison")
    parser.add_argument("--cli", action="store_true", help="also run the comparison through `unlearn compare`")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    home = Path(tempfile.mkdtemp(prefix="ul_baselines_compare_"))
    lab = Lab(Store(home), device="cpu")
    spec = ExperimentSpec()
    load_before = os.getloadavg()
    start = time.perf_counter()
    full = lab.compare(spec, FORGET, "all", progress=_progress)
    full_seconds = time.perf_counter() - start
    load_after = os.getloadavg()
    print(file=sys.stderr)

    baselines = list_methods("baseline")
    lines = [
        "# Baselines on digits, CNN, seed 0, forget class 3",
        "",
        "Produced by `python benchmarks/baselines_compare.py"
        + (f" --threads {args.threads}" if args.threads else "") + (" --cli" if args.cli else "")
        + "` (fresh workspace, CPU). "
        "Accuracies are fractions; `mia_efficacy` is SalUn's SVC attack (share of forget images judged "
        "non-members: retrain scores 1.0 here, the original 0.0); `avg_gap` is the mean absolute gap to "
        "retrain over forget_acc, retain_acc, test_acc and mia_efficacy; `seconds` is the unlearning time "
        "alone (for retrain: its training time). `outcome` is the run's verdict (metrics/verdicts.py).",
        "",
        "## Every baseline at its defaults",
        "",
        *_baseline_rows(full["runs"], full["skipped"], baselines),
    ]
    others = [run for run in full["runs"] if run["method"] not in baselines
              and run["method"] not in ("original", "retrain")]
    failed = [f"{run['method']} ({run['status']}: {run['error']})" for run in others if run["status"] != "ok"]
    lines += [
        "",
        "## Timing of the full comparison",
        "",
        f"`Lab.compare(ExperimentSpec(), ForgetSpec(classes=(3,)), \"all\")` ran {len(full['runs']) - 2} methods "
        f"({', '.join(run['method'] for run in full['runs'][2:])}) plus the original and the retrain oracle in "
        f"**{full_seconds:.1f} s** wall, including training the base model and the oracle "
        f"(limit {FULL_COMPARE_LIMIT_S:.0f} s: {'met' if full_seconds <= FULL_COMPARE_LIMIT_S else 'NOT met'}).",
        f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__} (torch threads: {torch.get_num_threads()}), "
        f"Python {platform.python_version()}; load average {load_before[0]:.1f} before and {load_after[0]:.1f} "
        "after (other jobs shared the cores, so wall times are upper bounds).",
    ]
    if failed:
        lines.append("Non-baseline methods that did not finish ok: " + "; ".join(failed) + ".")
    lines += ["", "## Defaults used", ""]
    for name in baselines:
        cfg = get_method(name).Config()
        lines.append(f"- `{name}`: {_params_text(cfg.to_dict()) or 'no parameters'}")

    if not args.no_variants:
        lines += ["", "## Sensitivity: non-default settings", "",
                  "Each row is one `Lab.run` with the parameters shown; everything else is the default.", "",
                  *_header("method (parameters)")]
        for variant in VARIANTS:
            run = lab.run(spec, FORGET, variant.method, variant.params, progress=_progress, store_run=False)
            label = f"{variant.method} ({_params_text(variant.params)}): {variant.why}"
            lines.append(_row(label, run))
        print(file=sys.stderr)
    if args.cli:
        result, cli_seconds = _cli_compare(args.threads)
        lines += ["", "## The same comparison through the CLI", "",
                  "`unlearn compare --dataset digits --arch cnn --forget-classes 3 --methods all --json` in another "
                  f"fresh workspace: {len(result['runs']) - 2} methods in {cli_seconds:.1f} s wall (process start, "
                  "training and evaluation included). Its baseline rows:", "",
                  *_baseline_rows(result["runs"], result.get("skipped", []), baselines)]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} (full comparison {full_seconds:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
