"""What the per-run layer-wise CKA costs on deep models, before and after its bounds (metrics/cka.py).

For each model: one `cka_report` as a run's first evaluation computes it (unlearned, original and retrain models,
forget and retain samples of at most 256 images), measured three ways:
- before: every conv/linear layer, each layer's activations on all samples held at once, then the Gram matrices
  (the code this replaced, reproduced here);
- all layers: every layer, each Gram matrix taken in a forward hook as the layer runs (`max_layers=None`);
- sampled: the default, at most CKA_MAX_LAYERS layers evenly spaced (first and last in), Grams in hooks.
"held" is the memory the comparison keeps at once for one model and one side (activations n x features per layer
before, n x n per compared layer after), the memory that grows with depth and resolution. The models are seeded
initial weights (CKA's arithmetic does not depend on their values).

    python benchmarks/cka_layers.py
"""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from functools import partial
from pathlib import Path

import torch

from unlearn_core.data import ForgetSpec, ImageDataset, Splits, load_dataset
from unlearn_core.metrics import cka
from unlearn_core.models.architectures import build_model

OUT = Path(__file__).resolve().parent
CASES = [("cnn", "digits"), ("resnet18", "digits"), ("resnet50", "digits"), ("densenet121", "digits"),
         ("resnet18", "synthetic 3x32x32")]


def _synthetic_cifar_sized() -> ImageDataset:
    """1,000 random 3x32x32 images in 10 classes: the size of a CIFAR image, where the CIFAR-stem ResNet-18 keeps
    32x32 maps in its first stage."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat_interleave(100)
    x = torch.randn(len(y), 3, 32, 32, generator=gen)
    return ImageDataset("synthetic", x, y, x[:100], y[:100], [str(c) for c in range(10)], (0.0,) * 3, (1.0,) * 3)


@torch.inference_mode()
def _held_activations(model: torch.nn.Module, x: torch.Tensor, layers: list[str]) -> int:
    """One model and side of the replaced computation: every layer's activations held, then their Grams beside
    them; returns the bytes held at the peak (float32 activations, float64 Grams)."""
    model = copy.deepcopy(model).eval()
    modules = dict(model.named_modules())
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda _m, _i, out: acts.__setitem__(name, cka._output_tensor(out).flatten(1).float())

    for name in layers:
        modules[name].register_forward_hook(keep(name))
    model(x)
    grams = {name: cka.centred_gram(a) for name, a in acts.items()}
    return sum(4 * a.numel() for a in acts.values()) + sum(8 * g.numel() for g in grams.values())


def _before(unlearned: torch.nn.Module, original: torch.nn.Module, retrain: torch.nn.Module, splits: Splits) -> int:
    """The replaced computation for a run's first evaluation; returns the peak bytes held."""
    xf, _ = splits.forget()
    xr, _ = splits.retain()
    xr = xr[cka.sample_retain(splits, 256, 0)]
    layers = cka.similarity_layers(unlearned, xf[:1])
    return max(_held_activations(m, x, layers) for x in (xf[:256], xr) for m in (unlearned, original, retrain))


def _timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    torch.set_num_threads(1)
    load_before, created = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M")
    rows = []
    for arch, data in CASES:
        dataset = load_dataset("digits") if data == "digits" else _synthetic_cifar_sized()
        splits = Splits.build(dataset, ForgetSpec(classes=(3,)))
        row = {"arch": arch, "data": data}
        for label, max_layers in (("before", "before"), ("all", None), ("sampled", cka.CKA_MAX_LAYERS)):
            torch.manual_seed(0)
            models = [build_model(arch, dataset.input_shape, dataset.num_classes).eval() for _ in range(3)]
            if max_layers == "before":
                wall, cpu, held = _timed(partial(_before, *models, splits))
            else:
                wall, cpu, report = _timed(partial(cka.cka_report, *models, splits, 0, max_layers=max_layers))
                n = max(report["samples"].values())
                held = 8 * len(report["layers"]) * n * n  # float64 Grams; one layer's activations at a time
                row["layers_total"], row[f"{label}_layers"] = report["layers_total"], len(report["layers"])
            row[f"{label}_s"], row[f"{label}_cpu_s"], row[f"{label}_held_mb"] = wall, cpu, held / 2**20
            print(arch, data, label, f"{wall:.1f}s wall {cpu:.1f}s cpu {held / 2**20:.0f} MB", flush=True)
        rows.append(row)
    result = {"created": created, "load_before": list(load_before), "load_after": list(os.getloadavg()),
              "cpu_count": os.cpu_count(), "machine": platform.machine(), "torch": torch.__version__,
              "max_layers": cka.CKA_MAX_LAYERS, "rows": rows}
    (OUT / "cka_layers.json").write_text(json.dumps(result, indent=1))
    (OUT / "cka_layers.md").write_text(markdown(result))


def markdown(result: dict) -> str:
    load = ", ".join(f"{v:.1f}" for v in result["load_before"]) + "; after: " + ", ".join(
        f"{v:.1f}" for v in result["load_after"])
    lines = ["# Benchmark `cka_layers`: layer-wise CKA on deep models", "",
             "One `cka_report` as a run's first evaluation computes it: unlearned, original and retrain models, on "
             "at most 256 forget and 256 retain images (digits: class 3, 143 forget images). *before*: every "
             "conv/linear layer with its activations held at once (the replaced code); *all*: every layer, each "
             "Gram matrix taken as the layer runs; *sampled*: the default, at most "
             f"{result['max_layers']} layers evenly spaced (first and last in). *held*: what one model's "
             "comparison keeps at once on one side (float32 activations, n x features per layer, and float64 n x n "
             "Grams before; the Grams and one layer's activations after). Seeded initial weights; torchvision's "
             "models see digits resized to 32x32.", "",
             f"Recorded {result['created']} on cpu (1 thread), {result['cpu_count']} CPUs ({result['machine']}), "
             f"torch {result['torch']}. Load average (1, 5, 15 min) before: {load}. Wall times on this shared "
             "machine are upper bounds; CPU time is steadier.", "",
             "| model | data | layers | before s (cpu s) | before held MB | all s (cpu s) | all held MB | "
             "sampled layers | sampled s (cpu s) | sampled held MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['arch']} | {r['data']} | {r['layers_total']} | {r['before_s']:.1f} "
                     f"({r['before_cpu_s']:.1f}) | {r['before_held_mb']:.0f} | {r['all_s']:.1f} ({r['all_cpu_s']:.1f}) "
                     f"| {r['all_held_mb']:.0f} | {r['sampled_layers']} | {r['sampled_s']:.1f} "
                     f"({r['sampled_cpu_s']:.1f}) | {r['sampled_held_mb']:.0f} |")
    return "\n".join([*lines, ""])


if __name__ == "__main__":
    main()
