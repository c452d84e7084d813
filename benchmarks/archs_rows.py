"""Records benchmarks/archs.md|json one architecture at a time (the `archs` bench scenario's own function), saving
after each, so a long CPU run on a shared machine keeps every finished row. `unlearn bench --scenario archs` runs
the same measurements in one call.

    python benchmarks/archs_rows.py [ARCH ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from unlearn_core.bench_archs import archs_markdown, run_archs
from unlearn_core.models.architectures import list_architectures

OUT = Path(__file__).resolve().parent
FIRST = ["mlp", "cnn", "resnet18", "torchvision:resnet18", "resnet34", "resnet50", "mobilenet_v3_small",
         "efficientnet_b0", "convnext_tiny", "vit_tiny", "vit_b_16"]


def main(archs: list[str]) -> None:
    path = OUT / "archs.json"
    result = json.loads(path.read_text()) if path.exists() else None
    done = {r["arch"] for r in result["rows"]} if result else set()
    for arch in archs:
        if arch in done:
            continue
        one = run_archs(torch.device("cpu"), lambda f, m: print(m, file=sys.stderr, flush=True), [arch])
        if result is None:
            result = {k: v for k, v in one.items() if k != "markdown"}
        else:
            result["rows"].append(one["rows"][0])
            result["load_after"] = one["load_after"]
        path.write_text(json.dumps(result, indent=1, default=str))
        (OUT / "archs.md").write_text(archs_markdown(result) + "\nRows recorded one architecture per call "
                                      "(benchmarks/archs_rows.py); the load averages are those of the first and "
                                      "the last call.\n")


if __name__ == "__main__":
    main(sys.argv[1:] or FIRST + [a for a in list_architectures() if a not in FIRST])
