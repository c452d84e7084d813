"""`unlearn bench --scenario contention`: torch's default threads against the chosen setting, with 0 and 1
competing busy processes, as ratios measured in one run.

The same training (the digits CNN with its default recipe, fewer epochs) runs four times: {no other process, one
busy process} x {torch's default intra-op threads, the count `choose_threads` picks}. The busy process is a
Python loop started here and stopped afterwards. Torch's default is read from a fresh interpreter without
OMP_NUM_THREADS, MKL_NUM_THREADS or UNLEARN_THREADS (this process may have them set). Other work on the machine
(its load average is recorded) adds to both settings alike, so only ratios within one run are comparable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import torch

from unlearn_core.data import load_dataset
from unlearn_core.device import choose_threads, environment_versions
from unlearn_core.experiment import experiment_from_args
from unlearn_core.models.architectures import build_model
from unlearn_core.models.training import make_codes, train_model
from unlearn_core.progress import Progress

CONTENTION_EPOCHS = 5
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "UNLEARN_THREADS")


def torch_default_threads() -> int:
    """The intra-op thread count torch picks on this machine when nothing configures it."""
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    return int(out.stdout.strip())


def _start_busy_process() -> subprocess.Popen:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # let it reach its loop
    return busy


def _stop(busy: subprocess.Popen) -> None:
    busy.kill()
    busy.wait(timeout=30)


def run_contention(device: torch.device, progress: Progress, epochs: int = CONTENTION_EPOCHS) -> dict:
    """Times the training in the four conditions and returns the result dict `run_bench` writes."""
    spec = experiment_from_args("digits", "cnn", 0, epochs=epochs).resolved()
    dataset = load_dataset(spec.dataset)
    codes = make_codes(dataset.num_classes, dataset.input_shape, spec.seed) if spec.recipe.mnemonic_t_mix else None
    num_params = sum(p.numel() for p in build_model(spec.arch, dataset.input_shape, dataset.num_classes).parameters())
    default = torch_default_threads()
    chosen = choose_threads(num_params, workers=1)
    settings = {"default": default, "chosen": chosen.threads}
    before_threads = torch.get_num_threads()
    load_before = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    weights: dict[str, dict[str, torch.Tensor]] = {}
    try:
        for busy_count in (0, 1):
            busy = _start_busy_process() if busy_count else None
            try:
                for label, threads in settings.items():
                    progress(len(rows) / 4, f"training with {threads} thread(s), {busy_count} busy process(es)")
                    torch.set_num_threads(threads)
                    torch.manual_seed(spec.seed)
                    model = build_model(spec.arch, dataset.input_shape, dataset.num_classes)
                    wall, cpu = time.perf_counter(), time.process_time()
                    train_model(model, dataset.x_train, dataset.y_train, spec.recipe, seed=spec.seed, device=device,
                                codes=codes)
                    rows.append({"busy": busy_count, "setting": label, "threads": threads,
                                 "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu})
                    weights[f"{label}-{busy_count}"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            finally:
                if busy is not None:
                    _stop(busy)
    finally:
        torch.set_num_threads(before_threads)
    wall = {(r["busy"], r["setting"]): r["wall_s"] for r in rows}
    reference = weights["chosen-0"]
    max_diff = max(float((w[k] - reference[k]).abs().max()) for w in weights.values() for k in reference)
    ratios = {
        "default_over_chosen_idle": wall[0, "default"] / wall[0, "chosen"],
        "default_over_chosen_busy": wall[1, "default"] / wall[1, "chosen"],
        "busy_over_idle_default": wall[1, "default"] / wall[0, "default"],
        "busy_over_idle_chosen": wall[1, "chosen"] / wall[0, "chosen"],
    }
    result = {
        "scenario": "contention",
        "description": f"the digits CNN ({num_params:,} parameters) trained {epochs} epochs with its default recipe "
                       "(mnemonic codes, recorded updates), with 0 and 1 competing busy processes, torch's default "
                       "threads against the chosen setting",
        "device": str(device), "cpu_count": os.cpu_count(), "load_before": load_before,
        "load_after": list(os.getloadavg()), "versions": environment_versions(),
        "created": time.strftime("%Y-%m-%d %H:%M"), "default_threads": default, "chosen": chosen.to_dict(),
        "rows": rows, "ratios": ratios, "max_abs_weight_diff": max_diff,
    }
    result["markdown"] = contention_markdown(result)
    return result


def contention_markdown(result: dict) -> str:
    r = result["ratios"]
    lines = [
        "# Benchmark `contention`", "", result["description"] + ".", "",
        f"Recorded {result['created']} on {result['device']}, {result['cpu_count']} CPUs, torch "
        f"{result['versions']['torch']}. Torch's default here: {result['default_threads']} thread(s); chosen: "
        f"{result['chosen']['threads']} ({result['chosen']['reason']}). Load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.1f}" for v in result["load_before"]) + "; after: "
        + ", ".join(f"{v:.1f}" for v in result["load_after"])
        + ". Other work on the machine slows every row; compare the ratios, which come from this one run.", "",
        "| busy processes | setting | threads | wall s | cpu s |", "|---|---|---|---|---|",
    ]
    lines += [f"| {row['busy']} | {row['setting']} | {row['threads']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} |"
              for row in result["rows"]]
    lines += [
        "", "| ratio | value |", "|---|---|",
        f"| default / chosen, no busy process | {r['default_over_chosen_idle']:.2f}x |",
        f"| default / chosen, one busy process | **{r['default_over_chosen_busy']:.2f}x** |",
        f"| one busy / none, default threads | {r['busy_over_idle_default']:.2f}x |",
        f"| one busy / none, chosen threads | {r['busy_over_idle_chosen']:.2f}x |", "",
        f"Largest absolute difference between the four trained models' weights: {result['max_abs_weight_diff']:.1e}.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["CONTENTION_EPOCHS", "contention_markdown", "run_contention", "torch_default_threads"]
