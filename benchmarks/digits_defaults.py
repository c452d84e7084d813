"""Every method at its defaults on the digits CNN (seed 0), through the CLI, for three scenarios.

Usage: python benchmarks/digits_defaults.py > benchmarks/digits_defaults.md  (UNLEARN_HOME: a scratch folder)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SCENARIOS = [
    ("class 3", ["--forget-classes", "3"], "all"),
    ("classes 1, 7", ["--forget-classes", "1,7"],
     "semu,slug,mnemonic,partial_label_flip,partial_gradient_ascent,ssd"),
    ("random 10%", ["--forget-random", "0.1"], "semu,slug,partial_label_flip,partial_gradient_ascent,ssd"),
]
COLUMNS = ["forget_acc", "retain_acc", "test_acc", "test_acc_forget_classes", "test_acc_retain_classes",
           "mia_efficacy", "mia_loss_auc", "avg_gap", "seconds"]


def main() -> None:
    print("# Every method at its defaults: digits CNN, seed 0\n")
    print("Produced by `python benchmarks/digits_defaults.py` with `unlearn compare --json` (2 CPU cores).\n")
    load_before = os.getloadavg()[0]
    for title, selector, methods in SCENARIOS:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "unlearn_core.cli", "compare", "--dataset", "digits", "--arch",
                               "cnn", *selector, "--methods", methods, "--json"], capture_output=True, text=True,
                              check=True)
        wall = time.perf_counter() - start
        result = json.loads(proc.stdout)
        print(f"## {title} (`--methods {methods}`, {wall:.0f} s wall including training)\n")
        print("| method | status | " + " | ".join(COLUMNS) + " | verdict |")
        print("|---" * (len(COLUMNS) + 3) + "|")
        for run in result["runs"]:
            metrics = run.get("metrics") or {}
            cells = [f"{metrics[k]:.3f}" if isinstance(metrics.get(k), int | float) else "—" for k in COLUMNS]
            verdict = (metrics.get("verdict") or {}).get("label", "") if run["status"] == "ok" else \
                (run.get("error") or "")[:120]
            print(f"| {run['method']} | {run['status']} | " + " | ".join(cells) + f" | {verdict} |")
        for skipped in result.get("skipped", []):
            print(f"\nskipped {skipped['method']}: {skipped['reason']}")
        print()
    # other work on the machine slows every method alike; the accuracies do not depend on it
    print(f"Load average (1 min) {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end, on 2 cores; "
          "well above 2, other work slowed every method and `seconds` compare only within this file.")


if __name__ == "__main__":
    main()
