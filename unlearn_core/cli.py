"""The `unlearn` command (design.md section 5).

`--json` prints exactly one JSON document on stdout; progress goes to stderr. Exit codes: 0 ok, 2 bad input
(one-line reason on stderr), 1 internal failure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

from unlearn_core import UserInputError
from unlearn_core.resources import dashboard_root


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other bad input
        self.exit(2, f"unlearn: error: {message}\n")


def _progress_printer(enabled: bool):
    last = {"text": ""}

    def report(fraction: float, message: str) -> None:
        if not enabled:
            return
        text = f"[{fraction:5.0%}] {message}"
        if text != last["text"]:
            print(text, file=sys.stderr, flush=True)
            last["text"] = text

    return report


def _int_list(text: str | None, what: str) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(v) for v in text.split(",") if v.strip() != "")
    except ValueError:
        raise UserInputError(f"{what} must be comma-separated integers, got {text!r}") from None


def _key_values(pairs: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserInputError(f"{what} expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _parse_option_value(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(value.lower(), value)


def _add_experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    p.add_argument("--arch", default="cnn", help="architecture: mlp, cnn, resnet18 (default: cnn)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0, help="seed for training, forget-set sampling and the method")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. n_train=20000 for shapes or root=/data for mnist")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    _add_threads_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch intra-op threads (default: chosen from the model size and free cores; "
                        "UNLEARN_THREADS also sets it)")


def _add_forget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--forget-classes", help="comma-separated classes, e.g. 3,7")
    p.add_argument("--forget-random", type=float, help="random fraction of the training set, e.g. 0.1")
    p.add_argument("--forget-indices", help="comma-separated training indices, e.g. 5,17,42")
    p.add_argument("--model", default=None,
                   help="run on a stored model (the key `unlearn import` printed) instead of training one")


def _spec(args: argparse.Namespace):
    from unlearn_core.experiment import experiment_from_args

    options = {k: _parse_option_value(v) for k, v in _key_values(args.dataset_option, "--dataset-option").items()}
    return experiment_from_args(args.dataset, args.arch, args.seed, args.epochs, options)


def _forget(args: argparse.Namespace):
    from unlearn_core.data import ForgetSpec

    if args.forget_random is not None and not (math.isfinite(args.forget_random) and 0 < args.forget_random < 1):
        raise UserInputError(f"--forget-random must be strictly between 0 and 1, got {args.forget_random}")
    spec = ForgetSpec(
        classes=_int_list(args.forget_classes, "--forget-classes"),
        indices=_int_list(args.forget_indices, "--forget-indices"),
        random_fraction=args.forget_random,
        seed=args.seed,
    )
    if not (spec.classes or spec.indices or spec.random_fraction is not None):
        raise UserInputError("the forget set is empty: give --forget-classes, --forget-random or --forget-indices")
    return spec


def _lab(args: argparse.Namespace):
    from unlearn_core.experiment import Lab

    return Lab(device=getattr(args, "device", "auto"), threads=getattr(args, "threads", None))


def _emit(args: argparse.Namespace, payload: dict, text: str) -> None:
    if args.json:
        print(json.dumps(payload, default=str, allow_nan=False))
    else:
        print(text)


def _metric_line(metrics: dict | None) -> str:
    if not metrics:
        return "-"
    keys = ["forget_acc", "retain_acc", "test_acc", "test_acc_retain_classes", "mia_efficacy", "avg_gap"]
    return "  ".join(f"{k}={metrics[k]:.3f}" for k in keys if isinstance(metrics.get(k), int | float))


# ---- commands ---------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    lab = _lab(args)
    spec = _spec(args).resolved()
    cached = lab.has_model("base-" + spec.key)
    base = lab.base_model(spec, _progress_printer(True))
    payload = {
        "model_key": base.key, "cached": cached, "dataset": spec.dataset, "arch": spec.arch, "seed": spec.seed,
        "recipe": spec.recipe.to_dict(), "test_acc": base.meta.get("test_acc"),
        "train_acc": base.meta.get("train_acc"), "train_seconds": base.meta.get("train_seconds"),
        "num_params": base.meta.get("num_params"), "device": base.meta.get("device"),
    }
    how = "cached" if cached else f"trained in {payload['train_seconds']:.1f} s"
    _emit(args, payload, f"{base.key}: test accuracy {payload['test_acc']:.4f} ({how})")
    return 0


def _run_from_config(path: str) -> tuple[Any, Any, str, dict, int]:
    from unlearn_core.data import ForgetSpec
    from unlearn_core.experiment import ExperimentSpec

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"cannot read run config {path}: {exc}") from None
    try:
        spec = ExperimentSpec.from_dict(data["experiment"])
        forget = ForgetSpec.from_dict(data["forget"])
        return spec, forget, data["method"], data.get("params") or {}, int(data.get("seed", spec.seed))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserInputError(f"{path} is not a run config (needs experiment, forget, method): {exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    if args.config:
        spec, forget, method, params, seed = _run_from_config(args.config)
        params = {**params, **_key_values(args.set, "--set")}
    else:
        if not args.method:
            raise UserInputError("--method is required (or --config run.json)")
        spec, forget, method, seed = _spec(args), _forget(args), args.method, args.seed
        params = _key_values(args.set, "--set")
    from unlearn_core.methods import get_method

    get_method(method)
    lab = _lab(args)
    record = lab.run(spec, forget, method, params, seed=seed, progress=_progress_printer(True),
                     model_key=getattr(args, "model", None))
    if record["status"] != "ok":
        print(f"unlearn: {method} {record['status']}: {record.get('error')}", file=sys.stderr)
    text = (f"{record['run_id']} {method} [{record['status']}] {_metric_line(record.get('metrics'))}\n"
            f"  original {_metric_line(record['original'])}\n  retrain  {_metric_line(record['retrain'])}")
    _emit(args, record, text)
    return 0 if record["status"] == "ok" else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from unlearn_core.methods import get_method

    methods: list[str] | str = "all" if args.methods.strip() == "all" else \
        [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise UserInputError("--methods needs at least one method name or 'all'")
    for name in methods if isinstance(methods, list) else []:
        get_method(name)
    spec, forget = _spec(args), _forget(args)
    lab = _lab(args)
    result = lab.compare(spec, forget, methods, seed=args.seed, progress=_progress_printer(True),
                         model_key=args.model)
    lines = [f"{'method':26s} {'status':10s} metrics"]
    for run in result["runs"]:
        lines.append(f"{run['method']:26s} {run['status']:10s} {_metric_line(run.get('metrics'))}")
        if run.get("error"):
            lines.append(f"{'':37s}{run['error']}")
    lines += [f"skipped {s['method']}: {s['reason']}" for s in result["skipped"]]
    _emit(args, result, "\n".join(lines))
    return 0


def _method_text(item: dict, specs: list) -> str:
    """One method's line, then one line per parameter: our default beside the paper's or official code's."""
    from unlearn_core.methods.base import format_default

    lines = [f"{item['name']:26s} {item['family']:9s} {item['summary']}"]
    for spec in specs:
        paper = spec.paper or "not stated"
        line = f"    {spec.name:22s} ours {format_default(spec.default):10s} paper/official {paper}"
        lines.append(line + (f"  ({spec.why})" if spec.why else ""))
    return "\n".join(lines)


def cmd_methods(args: argparse.Namespace) -> int:
    from unlearn_core.methods import METHODS, list_methods

    items = []
    for name in list_methods():
        cls = METHODS.get(name)
        info = cls.info
        items.append({
            "name": name, "title": info.title, "family": info.family, "summary": info.summary,
            "paper": info.paper, "scenarios": list(info.scenarios), "needs_retain": info.needs_retain,
            "needs_artifacts": list(info.needs_artifacts), "inferred": info.inferred,
            "params": [{"name": p.name, "type": p.type.__name__, "default": p.default, "min": p.min, "max": p.max,
                        "help": p.help, "choices": list(p.choices) if p.choices else None,
                        "paper_default": p.paper, "why": p.why}
                       for p in cls.Config.params()],
        })
    text = "\n".join(_method_text(m, METHODS.get(m["name"]).Config.params()) for m in items)
    _emit(args, {"methods": items}, text)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from unlearn_core.models.checkpoint import read_state_dict_file

    state = read_state_dict_file(Path(args.checkpoint))
    lab = _lab(args)
    base = lab.register_imported(_spec(args), state, source=str(args.checkpoint))
    payload = {"model_key": base.key, "dataset": base.spec.dataset, "arch": base.spec.arch,
               "test_acc": base.meta["test_acc"], "num_params": base.meta["num_params"]}
    _emit(args, payload, f"imported {args.checkpoint} as {base.key}: test accuracy {base.meta['test_acc']:.4f}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from unlearn_core.report import write_report

    run_ids = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not run_ids:
        raise UserInputError("--runs needs at least one run id")
    lab = _lab(args)
    out = write_report(lab, run_ids, Path(args.out))
    payload, lines = {"report": str(out)}, [f"wrote {out}"]
    if args.csv or args.json_out:
        from unlearn_core.report import write_exports

        written = write_exports(lab, run_ids, csv_path=Path(args.csv) if args.csv else None,
                                json_path=Path(args.json_out) if args.json_out else None)
        payload.update({kind: str(path) for kind, path in written.items()})
        lines += [f"wrote {path}" for path in written.values()]
    _emit(args, payload, "\n".join(lines))
    return 0


def _preset_payload(preset) -> dict:
    return {**preset.to_dict(), "source": preset.source, "unavailable": preset.unavailable()}


def cmd_preset(args: argparse.Namespace) -> int:
    from unlearn_core import presets

    words = list(args.words)
    if args.list or not words:
        problems = presets.user_presets()[1]
        for problem in problems:
            print(f"unlearn: skipped preset file {problem}", file=sys.stderr)
        items = [_preset_payload(p) for p in presets.all_presets()]
        text = "\n".join(f"{p['name']:20s} {p['source']:9s} {p['title']}"
                         + (f"\n{'':31s}unavailable: {p['unavailable']}" if p["unavailable"] else "")
                         for p in items)
        _emit(args, {"presets": items, "problems": problems}, text)
        return 0
    if words[0] == "save":
        if len(words) != 2 or not args.from_run:
            raise UserInputError("usage: unlearn preset save NAME --from-run ID[,ID...] [--title T]")
        lab = _lab(args)
        run_ids = [r.strip() for r in args.from_run.split(",") if r.strip()]
        preset = presets.preset_from_runs(lab, run_ids, words[1], args.title, args.description)
        path = presets.save_preset(preset, overwrite=args.force)
        _emit(args, {"preset": _preset_payload(preset), "path": str(path)}, f"saved preset {preset.name} to {path}")
        return 0
    if words[0] == "delete":
        if len(words) != 2:
            raise UserInputError("usage: unlearn preset delete NAME")
        presets.delete_preset(words[1])
        _emit(args, {"deleted": words[1]}, f"deleted preset {words[1]}")
        return 0
    if len(words) != 1:
        raise UserInputError("usage: unlearn preset NAME | --list | save NAME --from-run ID | delete NAME")
    preset = presets.get_preset(words[0]).on_dataset(args.dataset)
    result = presets.run_preset(_lab(args), preset, _progress_printer(True))
    lines = [f"preset {preset.name}: {preset.title}", f"{'method':26s} {'status':10s} metrics"]
    for run in result["runs"]:
        lines.append(f"{run['method']:26s} {run['status']:10s} {_metric_line(run.get('metrics'))}")
        if run.get("error"):
            lines.append(f"{'':37s}{run['error']}")
    lines += [f"skipped {s['method']}: {s['reason']}" for s in result["skipped"]]
    ids = [run["run_id"] for run in result["runs"] if run.get("run_id")]
    lines.append(f"report: unlearn report --runs {','.join(ids)} --out report.html")
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from unlearn_core.bench import run_bench

    result = run_bench(args.scenario, device=args.device, progress=_progress_printer(True),
                       out_dir=Path(args.out_dir) if args.out_dir else None)
    _emit(args, result, result.get("markdown", json.dumps(result, indent=2, default=str)))
    return 0


class _Ordered(argparse.Action):
    """Appends (flag, value) to one shared list, so `--method a --grid ... --method b --grid ...` keeps its order."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((option_string, values))
        setattr(namespace, self.dest, items)


def _sweep_from_args(args: argparse.Namespace):
    from unlearn_core.data import ForgetSpec
    from unlearn_core.studies.sweep import MethodGrid, SweepSpec, parse_grid_arg

    if args.config:
        if args.items:
            raise UserInputError("give either --config sweep.json or --method/--grid, not both")
        try:
            data = json.loads(Path(args.config).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserInputError(f"cannot read sweep config {args.config}: {exc}") from None
        return SweepSpec.from_dict(data)
    methods: list[tuple[str, list]] = []
    for flag, value in args.items or []:
        if flag == "--method":
            methods.append((value.strip(), []))
        elif not methods:
            raise UserInputError(f"--grid {value} comes before any --method: give --method NAME first")
        else:
            methods[-1][1].append(parse_grid_arg(methods[-1][0], value))
    if not methods:
        raise UserInputError("give --method NAME (with --grid name=v1,v2 ...) or --config sweep.json")
    if args.forget_random is not None and not (math.isfinite(args.forget_random) and 0 < args.forget_random < 1):
        raise UserInputError(f"--forget-random must be strictly between 0 and 1, got {args.forget_random}")
    forget = ForgetSpec(classes=_int_list(args.forget_classes, "--forget-classes"),
                        indices=_int_list(args.forget_indices, "--forget-indices"),
                        random_fraction=args.forget_random, seed=args.forget_seed)
    if not (forget.classes or forget.indices or forget.random_fraction is not None):
        raise UserInputError("the forget set is empty: give --forget-classes, --forget-random or --forget-indices")
    args.seed = 0
    grids = tuple(MethodGrid(name, tuple(sorted(grid))) for name, grid in methods)
    seeds = _int_list(args.seeds, "--seeds") if args.seeds is not None else (0,)
    if args.seeds is not None and not seeds:
        raise UserInputError("--seeds is empty: give at least one seed, e.g. --seeds 0,1,2")
    return SweepSpec(_spec(args), (forget,), grids, seeds, seed_base=not args.same_base, title=args.title or "")


def cmd_sweep(args: argparse.Namespace) -> int:
    from unlearn_core.studies.sweep import check_scenarios, estimate_cost, run_sweep, sweep_rows

    spec = _sweep_from_args(args).validated()
    lab = _lab(args)
    if args.dry_run:
        cells, skipped = check_scenarios(lab, spec, spec.cells())
        cost = estimate_cost(lab, spec)
        payload = {"cells": [c.to_dict() for c in cells], "estimate": cost.to_dict(),
                   "skipped": [s.__dict__ for s in skipped], "spec": spec.to_dict(), "sweep_key": spec.key}
        when = "unknown" if cost.seconds is None else f"about {cost.seconds:.0f} s sequential"
        _emit(args, payload, f"{cost.cells} cells ({cost.done} done before, {cost.to_run} to run, "
                             f"{cost.models_to_train} models to train): {when} ({cost.basis})")
        return 0
    result = run_sweep(spec, executor=args.executor, workers=args.workers, address=args.address, lab=lab,
                       device=args.device, threads=args.threads, gpus_per_cell=args.gpus_per_cell,
                       progress=_progress_printer(True))
    rows = sweep_rows(lab, spec)
    for s in result.skipped:
        print(f"unlearn: skipped {s.cells} cell(s) of {s.method} ({s.forget}): {s.reason}", file=sys.stderr)
    ex = result.executor
    lines = [f"sweep {result.key} {result.status} on {ex['name']} ({ex.get('workers')} workers) in "
             f"{result.seconds:.1f} s", f"{'cell':50s} {'status':10s} run / metrics"]
    for row in rows:
        grid = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        label = f"{row['method']}({grid}) seed {row['seed']}"
        lines.append(f"{label:50s} {row['status']:10s} {row['run_id'] or '-'} {_metric_line(row['metrics'])}")
    _emit(args, result.to_dict(rows), "\n".join(lines))
    failed = [c for c in result.cells if c.status == "failed"]
    for cell in failed:
        print(f"unlearn: {cell.label} failed: {cell.message}", file=sys.stderr)
    return 1 if failed or result.status == "cancelled" else 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Given on the command line, so a user-wide ~/.streamlit/config.toml or STREAMLIT_* variable cannot weaken them
SAFE_SERVER_FLAGS = ("--server.headless", "true", "--server.enableXsrfProtection", "true",
                     "--server.maxUploadSize", "200", "--browser.gatherUsageStats", "false")


def cmd_dashboard(args: argparse.Namespace) -> int:
    root = dashboard_root()
    if root is None:
        raise UserInputError("the dashboard files (app.py, pages/) are missing from this installation; reinstall "
                             "with `pip install unlearning-lab` or run from a source checkout")
    app = root / "app.py"
    if args.address not in LOOPBACK:
        print(f"unlearn: the dashboard will listen on {args.address}, reachable from other machines without a "
              "password; see docs/security.md to put it behind an authenticating TLS proxy", file=sys.stderr)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), *SAFE_SERVER_FLAGS]
    return subprocess.call(command, cwd=app.parent, env=os.environ.copy())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unlearn", description="Unlearning Lab: train, unlearn, compare and report.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train (or reuse) a base model")
    _add_experiment_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="run one unlearning method against the retrain oracle")
    _add_experiment_args(p)
    _add_forget_args(p)
    p.add_argument("--method", help="method name (see `unlearn methods`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter")
    p.add_argument("--config", help="re-run from an exported run JSON (result.json)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run several methods on one scenario")
    _add_experiment_args(p)
    _add_forget_args(p)
    p.add_argument("--methods", required=True, help="comma-separated names, or 'all'")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="run a grid of method parameters over seeds, in parallel",
                       description="unlearn sweep (--method NAME [--grid PARAM=V1,V2 | PARAM=log:LOW:HIGH:NUM ...])... "
                                   "| --config sweep.json. Cells already finished in the workspace are not run "
                                   "again, so an interrupted sweep resumes where it stopped.")
    p.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    p.add_argument("--arch", default="cnn", help="architecture: mlp, cnn, resnet18 (default: cnn)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs of the base model (default: the recipe's)")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE", help="dataset option")
    p.add_argument("--forget-classes", help="comma-separated classes, e.g. 3,7")
    p.add_argument("--forget-random", type=float, help="random fraction of the training set, e.g. 0.1")
    p.add_argument("--forget-indices", help="comma-separated training indices")
    p.add_argument("--forget-seed", type=int, default=0, help="seed of a random forget set (default 0)")
    p.add_argument("--method", dest="items", action=_Ordered, metavar="NAME", help="a method; repeat for several")
    p.add_argument("--grid", dest="items", action=_Ordered, metavar="PARAM=VALUES",
                   help="values of a parameter of the method before it: v1,v2,... or log:LOW:HIGH:NUM")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0)")
    p.add_argument("--same-base", action="store_true",
                   help="every seed shares the base model and oracle of seed 0 (default: seed s trains its own)")
    p.add_argument("--config", help="sweep.json (fields: experiment, forgets, methods, seeds, seed_base, title)")
    p.add_argument("--title", default=None)
    p.add_argument("--executor", default="local", help="sequential, local (a process pool; default) or ray")
    p.add_argument("--address", default=None, help="Ray cluster address (host:port or ray://host:10001)")
    p.add_argument("--workers", type=int, default=None, help="parallel cells (default: one per core / Ray CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: a fair share)")
    p.add_argument("--gpus-per-cell", type=float, default=None, help="Ray: share of a GPU per cell")
    p.add_argument("--dry-run", action="store_true", help="print the cells and the estimated cost, run nothing")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("import", help="register a user's checkpoint (validated like an upload)")
    _add_experiment_args(p)
    p.add_argument("--checkpoint", required=True, help="safetensors file or weights-only state dict")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("report", help="export a self-contained HTML report of stored runs")
    p.add_argument("--runs", required=True, help="comma-separated run ids")
    p.add_argument("--out", default="report.html")
    p.add_argument("--csv", default=None, metavar="FILE", help="also write every metric as CSV")
    p.add_argument("--json-out", default=None, metavar="FILE",
                   help="also write metrics and full configs as JSON (each run re-runs with `unlearn run --config`)")
    p.add_argument("--device", default="auto")
    _add_threads_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("preset", help="list, run or save reproducible presets",
                       description="unlearn preset --list | NAME [--dataset D] | save NAME --from-run ID[,ID...] | "
                                   "delete NAME. Saved presets are JSON files in $UNLEARN_HOME/presets/.")
    p.add_argument("words", nargs="*", metavar="NAME", help="preset name, or save NAME / delete NAME")
    p.add_argument("--list", action="store_true", help="list the presets (also the default without a name)")
    p.add_argument("--dataset", default=None, help="run on another dataset (presets that allow it)")
    p.add_argument("--from-run", default=None, metavar="ID[,ID...]", help="runs to save as a preset")
    p.add_argument("--title", default=None, help="title of a saved preset")
    p.add_argument("--description", default=None, help="description of a saved preset")
    p.add_argument("--force", action="store_true", help="overwrite a saved preset of the same name")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    _add_threads_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=cmd_preset)

    p = sub.add_parser("bench", help="run a benchmark scenario")
    p.add_argument("--scenario", default="smoke")
    p.add_argument("--device", default="auto")
    p.add_argument("--out-dir", default=None, help="folder for the markdown/JSON tables")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("dashboard", help="start the Streamlit dashboard on localhost")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserInputError as exc:  # one line, even when a library's message spans several
        print(f"unlearn: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unlearn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging on request
        if os.environ.get("UNLEARN_DEBUG"):
            raise
        print(f"unlearn: internal error: {exc!r} (set UNLEARN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
