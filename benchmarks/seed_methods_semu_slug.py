"""Acceptance table for SEMU and SLUG on the default digits CNN (seed 0), written as markdown.

    python benchmarks/seed_methods_semu_slug.py [--out benchmarks/seed_methods_semu_slug.md]

Runs through the Lab in a private temporary workspace (or $UNLEARN_HOME if set), so the numbers are those a user
gets from `unlearn run`. Rows marked "acceptance" are the settings each method uses to meet the targets; rows
marked "shown" are defaults or variants that fail a target, kept so the failure and its reason stay visible.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from unlearn_core.bench import time_method
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.store import Store

SECONDS_LIMIT = 5.0
SEMU_RETAIN = {"use_retain_data": True, "optimizer": "adam", "lr": 1e-2, "epochs": 10}


@dataclass(frozen=True)
class Case:
    scenario: str
    forget: ForgetSpec
    method: str
    params: dict = field(default_factory=dict)
    role: str = "acceptance"  # "acceptance" | "shown"
    retain_tolerance: float = 0.10  # allowed drop of test_acc_retain_classes (class scenarios)
    why: str = ""


CLASS3, CLASSES17, RANDOM10 = ForgetSpec(classes=(3,)), ForgetSpec(classes=(1, 7)), ForgetSpec(random_fraction=0.1)

CASES = [
    Case("class 3", CLASS3, "slug", retain_tolerance=0.05),
    Case("class 3", CLASS3, "semu", retain_tolerance=0.10),
    Case("class 3", CLASS3, "semu", SEMU_RETAIN, retain_tolerance=0.05),
    Case("classes 1, 7", CLASSES17, "slug"),
    Case("classes 1, 7", CLASSES17, "slug", {"multiclass": "joint"}, role="shown",
         why="one joint step instead of one step per class (the paper's modular way)"),
    Case("classes 1, 7", CLASSES17, "semu", role="shown",
         why="forget-only training: labels redrawn each epoch keep trading 1 and 7, forget accuracy oscillates"),
    Case("classes 1, 7", CLASSES17, "semu", SEMU_RETAIN),
    Case("random 10%", RANDOM10, "slug"),
    Case("random 10%", RANDOM10, "semu", role="shown",
         why="defaults are calibrated for class forgetting: wrong labels on 10% of all classes collapse the model"),
    Case("random 10%", RANDOM10, "semu", {"early_exit": True},
         why="the paper README's early exit: the score is flat from epoch 1, so training stops after epoch 3 with a "
             "barely moved model; on digits the original is already close to the retrained model"),
    Case("random 10%", RANDOM10, "semu", SEMU_RETAIN, role="shown",
         why="wrong labels on the forget images push MIA efficacy far above the retrained model's"),
]


def _cpu_seconds(lab: Lab, spec: ExperimentSpec, case: Case) -> float:
    """CPU time of the unlearning call alone (one thread), a load-independent companion to the Lab's wall time;
    the method is called the one way every caller does (bench.time_method -> methods.execute_method)."""
    best, _ = time_method(lab, spec, case.forget, case.method, case.params, seed=0, repeats=1)
    return best.cpu


def _edit_summary(method: str, diagnostics: dict) -> str:
    if method == "semu":
        ranks = " ".join(f"{name.removesuffix('.weight')}:{layer['rank']}"
                         for name, layer in diagnostics["spectra"].items())
        return f"{diagnostics['trainable_total']} trainable; ranks {ranks}"
    edits = diagnostics.get("per_class") or [diagnostics]
    return "; ".join(f"{e['chosen_layer']} x {e['lambda']:.3g}" for e in edits)


def _checks(case: Case, m: dict, original: dict, cpu: float) -> list[tuple[str, bool]]:
    checks = []
    if case.forget.classes:
        drop = original["test_acc_retain_classes"] - m["test_acc_retain_classes"]
        checks += [("FA<=0.05", m["forget_acc"] <= 0.05), ("TAf<=0.05", m["test_acc_forget_classes"] <= 0.05),
                   (f"TAr drop<={case.retain_tolerance:.2f}", drop <= case.retain_tolerance + 1e-9)]
    else:
        checks += [("TA drop<=0.05", original["test_acc"] - m["test_acc"] <= 0.05 + 1e-9),
                   ("avg_gap<=0.05", m["avg_gap"] <= 0.05)]
    checks.append((f"<{SECONDS_LIMIT:.0f}s cpu", cpu < SECONDS_LIMIT))
    return checks


def _settings(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def run(lab: Lab) -> str:
    spec = ExperimentSpec(dataset="digits", arch="cnn", seed=0)
    lines = [
        "# SEMU and SLUG on the default digits CNN (seed 0)",
        "",
        f"Produced by `benchmarks/seed_methods_semu_slug.py` on {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average before the runs {os.getloadavg()[0]:.1f} (the CPU is shared with other work).",
        "",
        "FA = forget-set accuracy, TAf / TAr = test accuracy on the forgotten / kept classes, TA = test accuracy, "
        "MIA = SalUn's MIA-efficacy, gap = avg_gap to the retrain oracle, changed = parameters that differ from the "
        "original, edit = SEMU's trainable count and ranks or SLUG's edited tensor x step size. wall s = the Lab's "
        "unlearning time on the loaded CPU; cpu s = CPU time of the same call re-run directly on one thread (the "
        "5 s check uses it). Role: *acceptance* rows are the settings that meet the targets; *shown* rows keep "
        "failures visible.",
        "",
        "| scenario | method | settings | role | FA | TAf | TAr | TA | MIA | gap | changed | edit | wall s | cpu s "
        "| checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    references_done = set()
    failures = []
    for case in CASES:
        print(f"{case.scenario}: {case.method} {_settings(case.params)}", file=sys.stderr, flush=True)
        record = lab.run(spec, case.forget, case.method, case.params)
        original, retrain = record["original"], record["retrain"]
        if case.scenario not in references_done:
            references_done.add(case.scenario)
            for name, m in (("original", original), ("retrain", retrain)):
                lines.append(f"| {case.scenario} | *{name}* | | | {_fmt(m['forget_acc'])} | "
                             f"{_fmt(m.get('test_acc_forget_classes'))} | {_fmt(m.get('test_acc_retain_classes'))} | "
                             f"{_fmt(m['test_acc'])} | {_fmt(m['mia_efficacy'])} | {_fmt(m['avg_gap'])} | | | | | |")
        if record["status"] != "ok":
            lines.append(f"| {case.scenario} | {case.method} | {_settings(case.params)} | {case.role} | "
                         f"failed: {record['error']} |||||||||||")
            continue
        m = record["metrics"]
        cpu = _cpu_seconds(lab, spec, case)
        edit = _edit_summary(case.method, lab.store.load_run_diagnostics(record["run_id"]))
        checks = _checks(case, m, original, cpu)
        verdict = " ".join(("ok " if ok else "FAIL ") + name for name, ok in checks)
        if case.role == "acceptance" and not all(ok for _, ok in checks):
            failures.append(f"{case.scenario} / {case.method} ({_settings(case.params)})")
        lines.append(
            f"| {case.scenario} | {case.method} | {_settings(case.params)} | {case.role} | {_fmt(m['forget_acc'])} | "
            f"{_fmt(m.get('test_acc_forget_classes'))} | {_fmt(m.get('test_acc_retain_classes'))} | "
            f"{_fmt(m['test_acc'])} | {_fmt(m['mia_efficacy'])} | {_fmt(m['avg_gap'])} | {m['changed_params']} | "
            f"{edit} | {m['seconds']:.2f} | {cpu:.2f} | {verdict} |")
        if case.why:
            lines[-1] = lines[-1][:-1] + f" ({case.why}) |"
    lines += ["", "Notes of the runs are stored with each run record; SLUG's chosen layers and step searches and "
              "SEMU's ranks and histories are in the run diagnostics.", ""]
    lines.append("All acceptance rows meet their targets." if not failures
                 else "Acceptance rows missing a target: " + "; ".join(failures) + ".")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = parser.parse_args()
    torch.set_num_threads(1)  # the CPU is shared by several processes: one thread avoids oversubscription
    home = os.environ.get("UNLEARN_HOME") or tempfile.mkdtemp(prefix="unlearn_semu_slug_")
    table = run(Lab(Store(home), device="cpu"))
    Path(args.out).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
