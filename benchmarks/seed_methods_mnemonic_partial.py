"""Acceptance table for mnemonic, partial amnesiac, amnesiac and the layer-wise partial methods, as markdown.

    python benchmarks/seed_methods_mnemonic_partial.py [--shapes] [--out benchmarks/seed_methods_mnemonic_partial.md]

Digits CNN (seed 0) scenarios run through the Lab, so the numbers are those `unlearn run` gives. `--shapes` adds
the partial amnesiac regime (20 images of a 20,000-image shapes set, CNN, 5 epochs, batch 128, recorded updates);
training that base model and its retrain oracle takes 10 to 30 minutes on 2 shared cores, once per workspace
(set UNLEARN_HOME to reuse one). Rows marked "acceptance" carry the settings each method uses for a target;
"shown" rows keep failures and naive counterparts visible.
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
from unlearn_core.models.training import TrainRecipe
from unlearn_core.store import Store

SECONDS_LIMIT = 5.0
DIGITS = ExperimentSpec(dataset="digits", arch="cnn", seed=0)
SHAPES = ExperimentSpec(dataset="shapes", arch="cnn", seed=0, dataset_options=(("n_train", 20000),),
                        recipe=TrainRecipe(epochs=5, batch_size=128, record_updates=True))
SHAPES_IMAGES = ForgetSpec(indices=tuple(sorted(
    torch.randperm(20000, generator=torch.Generator().manual_seed(0))[:20].tolist())))
CLASS3, CLASSES17, RANDOM10 = ForgetSpec(classes=(3,)), ForgetSpec(classes=(1, 7)), ForgetSpec(random_fraction=0.1)


@dataclass(frozen=True)
class Case:
    scenario: str
    spec: ExperimentSpec
    forget: ForgetSpec
    method: str
    params: dict = field(default_factory=dict)
    role: str = "acceptance"
    retain_tolerance: float = 0.05  # allowed drop of kept-class test accuracy (class scenarios)
    why: str = ""


DIGITS_CASES = [
    Case("class 3", DIGITS, CLASS3, "mnemonic",
         why="the MNIST defaults leave 8 of 143 class-3 training images recognised (FA 0.056)"),
    Case("class 3", DIGITS, CLASS3, "mnemonic", {"lambda1": 2e-3}),
    Case("class 3", DIGITS, CLASS3, "partial_label_flip"),
    Case("class 3", DIGITS, CLASS3, "partial_label_flip", {"use_retain": False}, role="shown",
         why="no retain term: flipping labels alone damages the kept classes"),
    Case("class 3", DIGITS, CLASS3, "partial_label_flip", {"rho_u": 1.0}, role="shown",
         why="naive full-update label flipping"),
    Case("class 3", DIGITS, CLASS3, "partial_gradient_ascent"),
    Case("class 3", DIGITS, CLASS3, "partial_gradient_ascent", {"use_retain": False}, role="shown",
         why="no retain term"),
    Case("class 3", DIGITS, CLASS3, "partial_gradient_ascent", {"rho_u": 1.0}, role="shown",
         why="naive full-update gradient ascent (with the retain term)"),
    Case("class 3", DIGITS, CLASS3, "partial_amnesiac", role="shown",
         why="refused up front: class 3 sits in nearly every batch"),
    Case("class 3", DIGITS, CLASS3, "partial_amnesiac", {"force": True}, role="shown",
         why="forced: subtracting nearly all of training"),
    Case("class 3", DIGITS, CLASS3, "amnesiac", role="shown",
         why="full subtraction returns the model near initialisation; 60 fine-tune steps repair it only partly"),
    Case("classes 1, 7", DIGITS, CLASSES17, "mnemonic", role="shown", retain_tolerance=0.10,
         why="the sign chosen on the codes is destructive for real kept-class images (methods.md §10)"),
    Case("classes 1, 7", DIGITS, CLASSES17, "mnemonic", {"lambda2": 1.0}, retain_tolerance=0.10),
    Case("classes 1, 7", DIGITS, CLASSES17, "partial_label_flip", role="shown", retain_tolerance=0.10,
         why="20 epochs of top-1% steps do not flip both classes"),
    Case("classes 1, 7", DIGITS, CLASSES17, "partial_label_flip", {"rho_u": 0.05}, retain_tolerance=0.10),
    Case("classes 1, 7", DIGITS, CLASSES17, "partial_gradient_ascent", role="shown", retain_tolerance=0.10,
         why="unbounded ascent on two classes drags the kept classes down"),
    Case("classes 1, 7", DIGITS, CLASSES17, "partial_gradient_ascent", {"lr": 3e-3, "retain_weight": 30.0},
         retain_tolerance=0.10),
    Case("random 10%", DIGITS, RANDOM10, "partial_label_flip", role="shown",
         why="at lr 1e-2 one epoch of wrong labels leaves the forget images looking like non-members"),
    Case("random 10%", DIGITS, RANDOM10, "partial_label_flip", {"lr": 1e-3}),
    Case("random 10%", DIGITS, RANDOM10, "partial_gradient_ascent"),
    Case("random 10%", DIGITS, RANDOM10, "partial_amnesiac", role="shown",
         why="refused: 140 random images touch nearly every batch"),
]

SHAPES_CASES = [
    Case("shapes, 20 images", SHAPES, SHAPES_IMAGES, "partial_amnesiac",
         why="this 5-epoch base is under-trained (test accuracy 0.50), so every subtracted step still carries "
             "learning; positions stored as int32 make rho 0.1 only 5x smaller"),
    Case("shapes, 20 images", SHAPES, SHAPES_IMAGES, "partial_amnesiac", {"rho": 0.05}, role="shown"),
    Case("shapes, 20 images", SHAPES, SHAPES_IMAGES, "partial_amnesiac", {"rho": 0.03}, role="shown"),
    Case("shapes, 20 images", SHAPES, SHAPES_IMAGES, "amnesiac", {"finetune_steps": 0}, role="shown",
         why="full subtraction, no fine-tune"),
    Case("shapes, 20 images", SHAPES, SHAPES_IMAGES, "amnesiac", role="shown"),
]


def _cpu_seconds(lab: Lab, spec: ExperimentSpec, case: Case) -> float:
    """CPU time of the unlearning call alone (one thread), a load-independent companion to the Lab's wall time;
    the method is called the one way every caller does (bench.time_method -> methods.execute_method)."""
    best, _ = time_method(lab, spec, case.forget, case.method, case.params, seed=0, repeats=1)
    return best.cpu


def _storage_ratio(diagnostics: dict) -> float | None:
    storage = diagnostics.get("storage")
    return storage["full_mb"] / storage["stored_mb"] if storage else None


def _checks(case: Case, m: dict, original: dict, cpu: float, ratio: float | None) -> list[tuple[str, bool]]:
    if case.forget.classes:
        drop = original["test_acc_retain_classes"] - m["test_acc_retain_classes"]
        checks = [("FA<=0.05", m["forget_acc"] <= 0.05), ("TAf<=0.05", m["test_acc_forget_classes"] <= 0.05),
                  (f"TAr drop<={case.retain_tolerance:.2f}", drop <= case.retain_tolerance + 1e-9)]
    elif case.spec is SHAPES:
        checks = [("TA drop<=0.02", original["test_acc"] - m["test_acc"] <= 0.02 + 1e-9)]
        if case.method == "partial_amnesiac":
            checks.append(("storage>=10x", ratio is not None and ratio >= 10.0))
    else:
        checks = [("TA drop<=0.05", original["test_acc"] - m["test_acc"] <= 0.05 + 1e-9),
                  ("avg_gap<=0.05", m["avg_gap"] <= 0.05)]
    if case.spec is DIGITS:
        checks.append((f"<{SECONDS_LIMIT:.0f}s cpu", cpu < SECONDS_LIMIT))
    return checks


def _settings(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _metric_cells(m: dict) -> str:
    return " | ".join(_fmt(m.get(k)) for k in ("forget_acc", "test_acc_forget_classes", "test_acc_retain_classes",
                                                "test_acc", "mia_efficacy", "avg_gap"))


def run(lab: Lab, cases: list[Case]) -> str:
    lines = [
        "# Mnemonic code, amnesiac and layer-wise partial methods",
        "",
        f"Produced by `benchmarks/seed_methods_mnemonic_partial.py` on {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread, "
        f"load average before the runs {os.getloadavg()[0]:.1f} (the CPU is shared with other work).",
        "",
        "FA = forget-set accuracy, TAf / TAr = test accuracy on forgotten / kept classes, TA = test accuracy, "
        "MIA = SalUn's MIA-efficacy, gap = avg_gap to the retrain oracle, changed = share of parameters that differ "
        "from the original, storage = full amnesiac storage / this run's storage. wall s = the Lab's unlearning "
        "time on the loaded CPU; cpu s = CPU time of the same call re-run directly on one thread (the 5 s check "
        "uses it on digits).",
        "",
        "| scenario | method | settings | role | FA | TAf | TAr | TA | MIA | gap | changed | storage | wall s | cpu s "
        "| checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    references_done, failures = set(), []
    for case in cases:
        print(f"{case.scenario}: {case.method} {_settings(case.params)}", file=sys.stderr, flush=True)
        record = lab.run(case.spec, case.forget, case.method, case.params)
        note = f" ({case.why})" if case.why else ""
        if record["status"] != "ok":
            lines.append(f"| {case.scenario} | {case.method} | {_settings(case.params)} | {case.role} | "
                         f"refused/failed: {record['error']}{note} |||||||||||")
            if case.role == "acceptance":
                failures.append(f"{case.scenario} / {case.method} ({_settings(case.params)})")
            continue
        if case.scenario not in references_done:
            references_done.add(case.scenario)
            for name in ("original", "retrain"):
                lines.append(f"| {case.scenario} | *{name}* | | | {_metric_cells(record[name])} | | | | | |")
        m = record["metrics"]
        ratio = _storage_ratio(lab.store.load_run_diagnostics(record["run_id"]))
        cpu = _cpu_seconds(lab, case.spec, case) if case.spec is DIGITS else float("nan")
        checks = _checks(case, m, record["original"], cpu, ratio)
        if case.role == "acceptance" and not all(ok for _, ok in checks):
            failures.append(f"{case.scenario} / {case.method} ({_settings(case.params)})")
        verdict = " ".join(("ok " if ok else "FAIL ") + name for name, ok in checks)
        lines.append(
            f"| {case.scenario} | {case.method} | {_settings(case.params)} | {case.role} | {_metric_cells(m)} | "
            f"{m['changed_fraction']:.3f} | {'-' if ratio is None else f'{ratio:.1f}x'} | {m['seconds']:.2f} | "
            f"{_fmt(cpu)} | {verdict}{note} |")
    lines += ["", "Run notes (sign choice, touched steps, stop rule) are stored with each run record.", ""]
    lines.append("All acceptance rows meet their targets." if not failures
                 else "Acceptance rows missing a target: " + "; ".join(failures) + ".")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    parser.add_argument("--shapes", action="store_true", help="add the shapes partial amnesiac cases")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the CPU is shared by several processes: one thread avoids oversubscription
    home = os.environ.get("UNLEARN_HOME") or tempfile.mkdtemp(prefix="unlearn_mnemonic_partial_")
    table = run(Lab(Store(home), device="cpu"), DIGITS_CASES + (SHAPES_CASES if args.shapes else []))
    Path(args.out).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
