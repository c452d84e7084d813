"""`unlearn bench --scenario fmnist-scaling`: each one-shot method's time at 5k, 20k and 60k Fashion-MNIST training
images, on a forget set of fixed size (50 images), so growth with the training set shows.

Base models here are trained for 1 epoch only (the times of one-shot methods do not depend on how well the model
is trained, and 60k images x 10 epochs x 3 sizes would not fit a shared CPU); their accuracies are not reported.
They carry mnemonic codes and a full update log, so every one-shot method runs on the same model. Each method is
timed once, as `Lab.run` calls it (`bench.time_method`; partial_amnesiac forced, see SCALING_PARAMS), next to one
forward+backward pass over the forget set and one training epoch (a pass over the whole training set), the two
floors a method's cost can scale with. `unlearn bench --scenario fmnist-scaling --max-train N` runs the sizes up
to N.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from unlearn_core.data import ForgetSpec, Splits
from unlearn_core.device import device_label, environment_versions
from unlearn_core.experiment import Lab, experiment_from_args
from unlearn_core.methods import get_method, list_methods
from unlearn_core.progress import Progress
from unlearn_core.store import Store

SCALING_SIZES = (5_000, 20_000, 60_000)
SCALING_ARCH = "cnn_flat"
# after 1 epoch on few images the 50 forget images sit in most batches, so partial_amnesiac would refuse; forced
# here, as only its time is measured
SCALING_PARAMS = {"partial_amnesiac": {"force": True}}


# Why a one-shot method's time does or does not grow with the training set (shown under the table)
GROWTH = {
    "mnemonic": "the Fisher information of the class codes only (one code image per class): independent of the "
                "training set and of the forget set",
    "partial_amnesiac": "subtracts the stored updates of the steps whose batch held a forget image: grows with the "
                        "number of such steps (about the forget set's size) and the model size, not with the data; "
                        "its update log, though, grows with the training set (last row)",
    "slug": "one gradient of the forget set and of a fixed retain sample, then a step-size search per Pareto-front "
            "layer evaluated on fixed samples: grows with the forget set and the front's size, not with the "
            "training set; the front's size depends on the trained model (its rows above), so compare the time "
            "per searched layer",
    "fisher_forgetting": "a diagonal Fisher over a capped sample of retain images (max_retain_samples): bounded, "
                         "not proportional to the training set",
    "ssd": "parameter importances over the whole training set (as the official code does), then a dampening: "
           "grows linearly with the training set by design",
}


def one_shot_methods() -> list[str]:
    return [m for m in list_methods() if get_method(m).info.one_shot]


def run_scaling(device: torch.device, progress: Progress, sizes: tuple[int, ...] = SCALING_SIZES) -> dict:
    from unlearn_core.bench import forward_backward_seconds, measure, time_method

    methods = one_shot_methods()
    # 50 images drawn from the smallest size, so the same images are forgotten at every size
    picked = tuple(sorted(int(i) for i in np.random.default_rng(0).choice(min(sizes), 50, replace=False)))
    forget = ForgetSpec(indices=picked)
    load_before = list(os.getloadavg())
    rows = []
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as home:
        lab = Lab(Store(Path(home)), device=str(device))
        for i, size in enumerate(sizes):
            options = {"max_train": size} if size < 60_000 else {}
            spec = experiment_from_args("fashion_mnist", SCALING_ARCH, 0, epochs=1, dataset_options=options,
                                        mnemonic_t_mix=0.1, record_updates=True).resolved()
            progress(i / len(sizes), f"{size:,} images: training the 1-epoch base model")
            with measure(lab.device) as train_m:
                base = lab.base_model(spec)
            splits = Splits.build(lab.dataset(spec), forget, lab.device)
            row = {"train_size": len(splits.dataset.y_train), "base_1_epoch_s": train_m.wall,
                   "fwd_bwd_forget_s": forward_backward_seconds(base.model, *splits.forget(), lab.device, repeats=2),
                   "update_log_mb": base.artifacts.updates.recorded_bytes() / 2**20, "methods": {}}
            for name in methods:
                progress((i + 0.5) / len(sizes), f"{size:,} images: timing {name}")
                try:
                    best, _ = time_method(lab, spec, forget, name, SCALING_PARAMS.get(name), spec.seed, 1)
                    row["methods"][name] = {"wall_s": best.wall, "cpu_s": best.cpu, "peak_mb": best.peak_mb}
                    if "pareto_front" in (best.diagnostics or {}):  # SLUG's cost is per searched front layer
                        row["methods"][name]["front_layers"] = len(best.diagnostics["pareto_front"])
                except Exception as exc:  # a method that cannot run at a size is reported, not hidden
                    row["methods"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            rows.append(row)
            del base
    result = {"scenario": "fmnist-scaling", "device": device_label(device), "cpu_count": os.cpu_count(),
              "load_before": load_before, "load_after": list(os.getloadavg()), "versions": environment_versions(),
              "created": time.strftime("%Y-%m-%d %H:%M"), "arch": SCALING_ARCH, "forget_size": len(picked),
              "methods": methods, "rows": rows}
    result["markdown"] = scaling_markdown(result)
    return result


def scaling_markdown(result: dict) -> str:
    rows, methods = result["rows"], result["methods"]
    sizes = [f"{r['train_size']:,}" for r in rows]
    lines = [
        "# Benchmark `fmnist-scaling`", "",
        f"Each one-shot method's wall time (s) on Fashion-MNIST at {', '.join(sizes)} "
        f"training images, forgetting the same {result['forget_size']} images; `{result['arch']}` base models "
        "trained 1 epoch with mnemonic codes and a full update log (one-shot times do not depend on accuracy). "
        f"Recorded {result['created']} on {result['device']}, {result['cpu_count']} CPUs, torch "
        f"{result['versions']['torch']}; load average before "
        + ", ".join(f"{v:.1f}" for v in result["load_before"]) + ", after "
        + ", ".join(f"{v:.1f}" for v in result["load_after"])
        + ". Other work on the machine inflates absolute times (see the load); the ratios between sizes in this run "
          "are what count.",
        "", "| training images | " + " | ".join(sizes) + " | growth (largest / smallest) |",
        "|---|" + "---|" * (len(rows) + 1),
    ]

    def line(label: str, values: list[float | None], digits: int = 2) -> str:
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else "–" for v in values]
        ok = [v for v in values if isinstance(v, float)]
        growth = f"{ok[-1] / ok[0]:.1f}x" if len(ok) == len(values) and ok[0] > 0 else "–"
        return f"| {label} | " + " | ".join(cells) + f" | {growth} |"

    lines.append(line("fwd+bwd over the forget set (floor)", [r["fwd_bwd_forget_s"] for r in rows]))
    lines.append(line("base model: 1 epoch, its loading and accuracy pass", [r["base_1_epoch_s"] for r in rows]))
    for name in methods:
        lines.append(line(name, [r["methods"].get(name, {}).get("wall_s") for r in rows]))
        fronts = [r["methods"].get(name, {}).get("front_layers") for r in rows]
        if all(isinstance(f, int) and f > 0 for f in fronts):
            lines.append(line(f"{name}: Pareto-front layers searched", [float(f) for f in fronts], digits=0))
            lines.append(line(f"{name}: per searched layer", [r["methods"][name]["wall_s"] / f
                                                              for r, f in zip(rows, fronts, strict=True)]))
    lines.append(line("update log in the model file, MB", [r["update_log_mb"] for r in rows]))
    sizes_run = [r["train_size"] for r in rows]
    if max(sizes_run) < SCALING_SIZES[-1]:
        lines += ["", f"Sizes above {max(sizes_run):,} were not run (`--max-train {max(sizes_run)}`)."]
    lines += ["", "What each method's cost follows (from its algorithm, whatever this machine measured):"]
    lines += [f"- {name}: {GROWTH[name]}" for name in methods if name in GROWTH]
    errors = [(r["train_size"], n, m["error"]) for r in rows for n, m in r["methods"].items() if "error" in m]
    lines += [""] + [f"- {name} at {size:,}: {error}" for size, name, error in errors]
    return "\n".join(lines) + "\n"


__all__ = ["SCALING_SIZES", "one_shot_methods", "run_scaling", "scaling_markdown"]
