"""`unlearn bench --scenario archs`: what each registered architecture costs the methods, on the CPU.

For every architecture on digits (1x8x8, which torchvision's models see as 3x32x32, or at a ViT's size): its
parameters, one forward+backward pass over the forget set (class 3), and the wall and CPU time of one SLUG and one
SSD call at their defaults. The weights are the seeded initialisation: these methods do the same arithmetic
whatever the weights' values, and no accuracy is reported, so no model is trained and the scenario needs no
workspace.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

from unlearn_core.bench import Measurement, _threads, forward_backward_seconds, measure, memory_method
from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.device import device_label, environment_versions
from unlearn_core.methods import TrainingArtifacts, UnlearnContext, execute_method, get_method
from unlearn_core.models.architectures import arch_info, build_model, input_adaptation, list_architectures
from unlearn_core.models.training import default_recipe
from unlearn_core.progress import Progress

ARCHS_FORGET = ForgetSpec(classes=(3,))
TIMED_METHODS = ("slug", "ssd")


def run_archs(device: torch.device, progress: Progress, archs: list[str] | None = None) -> dict:
    """The table's rows for `archs` (default: every registered architecture), and its markdown."""
    load_before, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M")
    dataset = load_dataset("digits")
    splits = Splits.build(dataset, ARCHS_FORGET, device)
    names = archs or list_architectures()
    rows = []
    with _threads(device) as threads:
        for i, arch in enumerate(names):
            progress(i / len(names), f"{arch}: building and timing")
            torch.manual_seed(0)
            model = build_model(arch, dataset.input_shape, dataset.num_classes).to(device).eval()
            artifacts = TrainingArtifacts(arch, dataset.input_shape, dataset.num_classes,
                                          default_recipe("digits", arch), 0)
            row: dict[str, Any] = {"arch": arch, "source": arch_info(arch).source,
                                   "parameters": sum(p.numel() for p in model.parameters()),
                                   "input": input_adaptation(arch, dataset.input_shape),
                                   "fwd_bwd_s": forward_backward_seconds(model, *splits.forget(), device, repeats=2)}
            for method in TIMED_METHODS:
                impl = get_method(method)
                m = Measurement()
                execute_method(impl, model, splits, artifacts, impl.Config(), UnlearnContext(device, 0),
                               timer=measure(device, m))
                row[f"{method}_s"], row[f"{method}_cpu_s"] = m.wall, m.cpu
                row[f"{method}_x_fwd_bwd"] = m.wall / row["fwd_bwd_s"]
            rows.append(row)
    result = {"scenario": "archs", "device": device_label(device), "threads": threads, "cpu_count": os.cpu_count(),
              "load_before": list(load_before), "load_after": list(os.getloadavg()), "machine": platform.machine(),
              "versions": environment_versions(), "created": started, "memory": memory_method(device),
              "forget": ARCHS_FORGET.to_dict(), "forget_size": len(splits.forget_idx),
              "train_size": len(dataset.y_train), "rows": rows}
    result["markdown"] = archs_markdown(result)
    return result


def archs_markdown(result: dict) -> str:
    lines = ["# Benchmark `archs`", "",
             "Every architecture on digits: parameters, one forward+backward pass over the forget set, and one SLUG "
             "and one SSD call at their defaults (seeded initial weights; nothing is trained, no accuracy shown).", "",
             f"Recorded {result['created']} on {result['device']}, {result['cpu_count']} CPUs ({result['machine']}), "
             f"torch {result['versions']['torch']}; torch threads: {result['threads']}. Load average (1, 5, 15 min) "
             "before: " + ", ".join(f"{v:.1f}" for v in result["load_before"]) + "; after: "
             + ", ".join(f"{v:.1f}" for v in result["load_after"]) + ". "
             f"Forget set: digits class 3 ({result['forget_size']} of {result['train_size']} training images). "
             "SSD's importances read the training set and the forget set; SLUG takes a forget and a retain gradient "
             "and searches its step size. Wall times on a shared machine are upper bounds; CPU time is steadier.", "",
             "| architecture | source | parameters | fwd+bwd s | slug s (cpu s) | slug x fwd+bwd | ssd s (cpu s) | "
             "ssd x fwd+bwd | input |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['arch']} | {r['source']} | {r['parameters']:,} | {r['fwd_bwd_s']:.3f} | "
              f"{r['slug_s']:.2f} ({r['slug_cpu_s']:.2f}) | {r['slug_x_fwd_bwd']:.1f} | "
              f"{r['ssd_s']:.2f} ({r['ssd_cpu_s']:.2f}) | {r['ssd_x_fwd_bwd']:.1f} | {r['input']} |"
              for r in result["rows"]]
    return "\n".join([*lines, ""])
