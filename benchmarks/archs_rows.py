"""Records benchmarks/archs.md|json one architecture at a time (the `archs` bench scenario's own function), saving
after each, so a long CPU run on a shared machine keeps every finished row. `unlearn bench --scenario archs` runs
the same measurements in one call. Each row keeps when it was recorded and the load average before and after its
own call (the header's are those of the first call), and the footer lists them.

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
        row = {**one["rows"][0], "recorded": one["created"], "load_before": one["load_before"],
               "load_after": one["load_after"]}
        if result is None:
            result = {**{k: v for k, v in one.items() if k != "markdown"}, "rows": [row]}
        else:
            result["rows"].append(row)
        path.write_text(json.dumps(result, indent=1, default=str))
        (OUT / "archs.md").write_text(archs_markdown(result) + "\n" + footer(result["rows"]))


# the rows recorded before rows kept their own load averages (this script's first session)
EARLIER = ("The header's date and load averages are those of the first call. The rows without a line below were "
           "recorded one architecture per call (benchmarks/archs_rows.py and the same `run_archs` in a second "
           "process) on this project's shared 2-core machine at a load average of about 18-20 (convnext_tiny, "
           "recorded last of them, at about 3).")


def footer(rows: list[dict]) -> str:
    """When each row with its own record was measured, at what load average (1, 5, 15 min) before and after."""
    def load(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    lines = [f"- {r['arch']}: recorded {r['recorded']}, load average before {load(r['load_before'])}, after "
             f"{load(r['load_after'])}" + (f"; {r['note']}" if r.get("note") else "")
             for r in rows if "load_before" in r]
    missing = [a for a in list_architectures() if a not in {r["arch"] for r in rows}]
    if missing:
        lines.append("- not recorded yet (`python benchmarks/archs_rows.py ARCH` adds a row): "
                     + ", ".join(f"`{a}`" for a in missing))
    return "\n".join([EARLIER, "", *lines, "", "Wall times are inflated several times over at these loads; CPU "
                       "time (in brackets) is the steadier figure. No GPU was lent to the sessions that recorded "
                       "them, so there is no GPU row.", ""])


if __name__ == "__main__":
    main(sys.argv[1:] or FIRST + [a for a in list_architectures() if a not in FIRST])
