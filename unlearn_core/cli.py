"""The `unlearn` command (design.md section 5).

`--json` prints exactly one JSON document on stdout; progress goes to stderr. Exit codes: 0 ok, 2 bad input
(one-line reason on stderr), 1 internal failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from unlearn_core import UserInputError, validation
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
    return validation.int_list(text, what) if text else ()


def _key_values(pairs: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"{what} expects key=value, got {pair!r}")
        out[validation.text(key.strip(), f"{what} key", max_chars=64)] = value.strip()
    return out


def _arg_type(check: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """An argparse `type` running a validation function; its message becomes argparse's one-line error."""
    def convert(value: str) -> Any:
        try:
            return check(value)
        except UserInputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


SEED_ARG = _arg_type(lambda v: validation.seed_value(v, "the seed"), "seed")
EPOCHS_ARG = _arg_type(lambda v: validation.bounded_int(v, "the number of epochs", low=1, high=1000), "epochs")
FRACTION_ARG = _arg_type(lambda v: validation.finite_float(v, "the fraction", low=0.0, high=1.0, low_open=True,
                                                           high_open=True), "fraction")
THREADS_ARG = _arg_type(lambda v: validation.bounded_int(v, "the number of threads", low=1, high=1024), "threads")
WORKERS_ARG = _arg_type(lambda v: validation.bounded_int(v, "the number of workers", low=1, high=1024), "workers")
GPU_SHARE_ARG = _arg_type(lambda v: validation.finite_float(v, "the GPU share", low=0.0, high=64.0, low_open=True),
                          "share")
NUMBER_ARG = _arg_type(lambda v: validation.finite_float(v, "the value"), "number")  # ranges: TrainRecipe.validate
COUNT_ARG = _arg_type(lambda v: validation.bounded_int(v, "the value", low=1, high=2**31 - 1), "count")
PORT_ARG = _arg_type(lambda v: validation.bounded_int(v, "the port", low=1, high=65535), "port")


def _add_experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    p.add_argument("--arch", default="cnn",
                   help="architecture: mlp, cnn, resnet18 (CIFAR stem) or a torchvision name such as "
                        "mobilenet_v3_small, torchvision:resnet18 (see `unlearn archs`; default: cnn)")
    p.add_argument("--epochs", type=EPOCHS_ARG, default=None, help="training epochs, 1-1000 (default: the recipe's)")
    p.add_argument("--seed", type=SEED_ARG, default=0,
                   help="seed for training, forget-set sampling and the method, 0 to 2**32-1")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE",
                   help="dataset option, e.g. n_train=20000 for shapes or root=/data for mnist")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    _add_threads_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=THREADS_ARG, default=None, metavar="N",
                   help="torch intra-op threads (default: chosen from the model size and free cores; "
                        "UNLEARN_THREADS also sets it)")


def _add_forget_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--forget-classes", help="comma-separated classes, e.g. 3,7")
    p.add_argument("--forget-random", type=FRACTION_ARG, help="random fraction of the training set, e.g. 0.1")
    p.add_argument("--forget-indices", help="comma-separated training indices, e.g. 5,17,42")
    p.add_argument("--model", default=None,
                   help="run on a stored model (the key `unlearn import` printed) instead of training one")


def _spec(args: argparse.Namespace):
    from unlearn_core.experiment import experiment_from_args

    # values stay text: the dataset's option rules (validation.dataset_options) type and range-check them
    options = _key_values(args.dataset_option, "--dataset-option")
    return experiment_from_args(args.dataset, args.arch, args.seed, args.epochs, options)


def _forget(args: argparse.Namespace):
    from unlearn_core.data import ForgetSpec

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

    lab = Lab(device=getattr(args, "device", "auto"), threads=getattr(args, "threads", None))
    args.closing.callback(lab.store.close)  # the index is closed when the command ends, not when gc runs
    for notice in lab.store.notices:  # what opening the workspace repaired (e.g. an index rebuilt)
        print(f"unlearn: {notice}", file=sys.stderr)
    return lab


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


def _add_band_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--band", type=COUNT_ARG, default=2, metavar="K",
                   help="train (or reuse) K independent retrains first, to calibrate the verdict (default: 2)")
    p.add_argument("--no-band", action="store_true",
                   help="skip the retrain band: the verdict is 'unverified' unless a band is already cached")


def _ensure_bands(args: argparse.Namespace, lab: Any, spec: Any, forget: Any, methods: list[str], seed: int) -> None:
    """Trains the retrain band of every distinct base model these methods run on (cost said first, on stderr)."""
    if args.no_band:
        return
    from unlearn_core.studies.band import band_cost, base_for_method, check_k, train_band

    k = check_k(args.band)
    model_key = getattr(args, "model", None)
    seen: set[str] = set()
    for method in methods:
        if lab.applicability(method, spec, forget):
            continue
        base = base_for_method(lab, spec, method, model_key)
        if base.key in seen:
            continue
        seen.add(base.key)
        cost = band_cost(lab, base, forget, k, seed)
        if not cost["cached"]:
            eta = "" if cost["seconds_estimate"] is None else f", about {cost['seconds_estimate']:.0f} s"
            print(f"unlearn: retrain band: {cost['to_train']} of {k} retrains to train{eta} (--no-band skips it)",
                  file=sys.stderr)
        train_band(lab, base, forget, k, seed, progress=_progress_printer(True))


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

    data = validation.mapping(validation.read_json_file(path, "run config"), f"run config {path}")
    missing = [key for key in ("experiment", "forget", "method") if key not in data]
    if missing:
        raise UserInputError(f"{path} is not a run config: it has no {', '.join(missing)} (a run's result.json or "
                             "the report's JSON export has them)")
    spec = ExperimentSpec.from_dict(data["experiment"])
    forget = ForgetSpec.from_dict(data["forget"])
    method = validation.text(data["method"], "method", max_chars=64)
    params = validation.mapping(data.get("params") or {}, "params")
    return spec, forget, method, params, validation.seed_value(data.get("seed", spec.seed))


def cmd_run(args: argparse.Namespace) -> int:
    if args.config:
        spec, forget, method, params, seed = _run_from_config(args.config)
        params = {**params, **_key_values(args.set, "--set")}
    else:
        if not args.method:
            raise UserInputError("--method is required (or --config run.json)")
        spec, forget, method, seed = _spec(args), _forget(args), args.method, args.seed
        params = _key_values(args.set, "--set")

    lab = _lab(args)
    lab.check_run(spec, forget, method, params, getattr(args, "model", None))  # refused before the band trains
    _ensure_bands(args, lab, spec, forget, [method], seed)
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
    from unlearn_core.methods import list_methods

    for name in list_methods() if methods == "all" else methods:  # refused before the band trains
        if not lab.applicability(name, spec, forget):
            lab.check_run(spec, forget, name, None, args.model)

    _ensure_bands(args, lab, spec, forget, list_methods() if methods == "all" else methods, args.seed)
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


def cmd_band(args: argparse.Namespace) -> int:
    from unlearn_core.methods import get_method
    from unlearn_core.studies.band import band_cost, base_for_method, check_k, train_band

    get_method(args.method)
    spec, forget, k = _spec(args), _forget(args), check_k(args.k)
    lab = _lab(args)
    base = base_for_method(lab, spec, args.method, args.model)
    cost = band_cost(lab, base, forget, k, args.seed)
    if args.cost_only:
        _emit(args, cost, f"retrain band K={k}: {cost['to_train']} retrain(s) to train"
              + ("" if cost["seconds_estimate"] is None else f", about {cost['seconds_estimate']:.0f} s"))
        return 0
    band = train_band(lab, base, forget, k, args.seed, progress=_progress_printer(True))
    lines = [f"retrain band of {band['oracle_key']} (K={band['k']}, seeds {band['retrain_seeds']})"]
    lines += [f"  {name:24s} {lo:.4f} .. {hi:.4f}" for name, (lo, hi) in band["bands"].items()]
    _emit(args, band, "\n".join(lines))
    return 0


def _kinds_text(kinds: list[str]) -> str:
    from unlearn_core.models.architectures import PARAM_KINDS

    return "every parameter kind" if set(kinds) == set(PARAM_KINDS) else ", ".join(kinds)


def _method_text(item: dict, specs: list) -> str:
    """One method's line, then one line per parameter: our default beside the paper's or official code's."""
    from unlearn_core.methods.base import format_default

    lines = [f"{item['name']:26s} {item['family']:9s} {item['summary']}",
             f"    {'edits':22s} {_kinds_text(item['edits'])}; normalisation layers: {item['norm_mode']}"]
    for spec in specs:
        paper = spec.paper or "not stated"
        line = f"    {spec.name:22s} ours {format_default(spec.default):10s} paper/official {paper}"
        lines.append(line + (f"  ({spec.why})" if spec.why else ""))
    if item.get("known_limits"):
        lines.append(f"    {'where defaults fail':22s} {item['known_limits']}")
    return "\n".join(lines)


def cmd_methods(args: argparse.Namespace) -> int:
    from unlearn_core.methods import METHODS, list_methods
    from unlearn_core.methods.base import NORM_MODES

    items = []
    for name in list_methods():
        cls = METHODS.get(name)
        info = cls.info
        items.append({
            "name": name, "title": info.title, "family": info.family, "summary": info.summary,
            "paper": info.paper, "scenarios": list(info.scenarios), "needs_retain": info.needs_retain,
            "needs_artifacts": list(info.needs_artifacts), "inferred": info.inferred,
            "known_limits": info.known_limits,
            "edits": list(info.edited_kinds()), "norm_mode": info.norm_mode,
            "norm_mode_text": NORM_MODES.get(info.norm_mode, ""),
            "params": [{"name": p.name, "type": p.type.__name__, "default": p.default, "min": p.min, "max": p.max,
                        "help": p.help, "choices": list(p.choices) if p.choices else None,
                        "paper_default": p.paper, "why": p.why}
                       for p in cls.Config.params()],
        })
    text = "\n".join(_method_text(m, METHODS.get(m["name"]).Config.params()) for m in items)
    _emit(args, {"methods": items}, text)
    return 0


RECIPE_FLAGS = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "batch_size", "augment")


def cmd_import(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from unlearn_core.experiment import oracle_recipe_text
    from unlearn_core.models.checkpoint import read_state_dict_file

    state = read_state_dict_file(Path(args.checkpoint))
    lab = _lab(args)
    spec = _spec(args).resolved()
    stated = {name: getattr(args, name) for name in RECIPE_FLAGS if getattr(args, name) is not None}
    spec = replace(spec, recipe=replace(spec.recipe, **stated))
    base = lab.register_imported(spec, state, source=str(args.checkpoint),
                                 recipe_stated=bool(stated) or args.epochs is not None)
    if args.add_codes:
        base = lab.add_mnemonic_codes(base.key, args.add_codes, _progress_printer(True))
    oracle = oracle_recipe_text(base.meta, base.spec.recipe)
    payload = {"model_key": base.key, "dataset": base.spec.dataset, "arch": base.spec.arch,
               "test_acc": base.meta["test_acc"], "num_params": base.meta["num_params"],
               "oracle_recipe": base.spec.recipe.to_dict(), "oracle_recipe_text": oracle,
               "has_mnemonic_codes": base.artifacts.codes is not None}
    _emit(args, payload, f"imported {args.checkpoint} as {base.key}: test accuracy {base.meta['test_acc']:.4f}\n"
                         f"  its retrain oracle will be trained with {oracle}")
    return 0


def cmd_archs(args: argparse.Namespace) -> int:
    from unlearn_core.data import load_dataset
    from unlearn_core.models.architectures import (
        ARCHITECTURES,
        count_parameters,
        input_adaptation,
        list_architectures,
        step_flops,
    )

    dataset = load_dataset(args.dataset, **_key_values(args.dataset_option, "--dataset-option"))
    shape, classes = dataset.input_shape, dataset.num_classes
    items = []
    for name in list_architectures():
        info = ARCHITECTURES.get(name)[0]
        item = {"name": name, "title": info.title, "source": info.source, "norm": info.norm,
                "parameters": count_parameters(name, shape, classes), "input": input_adaptation(name, shape),
                "description": info.description}
        if args.cost:
            item["train_flops_per_image"] = step_flops(name, shape, classes)
        items.append(item)
    lines = [f"{'name':22s} {'parameters':>12s} {'norm':6s} title"]
    for item in items:
        cost = f"  {item['train_flops_per_image'] / 1e9:.3f} GFLOP/image fwd+bwd" if args.cost else ""
        lines.append(f"{item['name']:22s} {item['parameters']:>12,} {item['norm']:6s} {item['title']}{cost}")
    lines.append(f"parameters for {args.dataset}: input {'x'.join(map(str, shape))}, {classes} classes")
    _emit(args, {"dataset": args.dataset, "input_shape": list(shape), "num_classes": classes,
                 "architectures": items}, "\n".join(lines))
    return 0


def _run_ids(text: str, what: str) -> list[str]:
    run_ids = [validation.storage_key(r.strip(), "run id") for r in text.split(",") if r.strip()]
    if not run_ids:
        raise UserInputError(f"{what} needs at least one run id")
    return run_ids


def cmd_report(args: argparse.Namespace) -> int:
    from unlearn_core.report import write_report

    run_ids = _run_ids(args.runs, "--runs")
    out = validation.output_file(args.out, "--out")
    csv_path = validation.output_file(args.csv, "--csv") if args.csv is not None else None
    json_path = validation.output_file(args.json_out, "--json-out") if args.json_out is not None else None
    lab = _lab(args)
    out = write_report(lab, run_ids, out)
    payload, lines = {"report": str(out)}, [f"wrote {out}"]
    if csv_path or json_path:
        from unlearn_core.report import write_exports

        written = write_exports(lab, run_ids, csv_path=csv_path, json_path=json_path)
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
        run_ids = _run_ids(args.from_run, "--from-run")
        title = validation.text(args.title, "--title", max_chars=200) if args.title is not None else None
        description = validation.text(args.description, "--description", max_chars=2000) \
            if args.description is not None else None
        preset = presets.preset_from_runs(lab, run_ids, words[1], title, description)
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
                       out_dir=Path(args.out_dir) if args.out_dir else None, max_train=args.max_train,
                       max_test=args.max_test, resume=args.resume)
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
        return SweepSpec.from_dict(validation.read_json_file(args.config, "sweep config"))
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
    forget = ForgetSpec(classes=_int_list(args.forget_classes, "--forget-classes"),
                        indices=_int_list(args.forget_indices, "--forget-indices"),
                        random_fraction=args.forget_random, seed=args.forget_seed)
    if not (forget.classes or forget.indices or forget.random_fraction is not None):
        raise UserInputError("the forget set is empty: give --forget-classes, --forget-random or --forget-indices")
    args.seed = 0
    grids = tuple(MethodGrid(name, tuple(sorted(grid))) for name, grid in methods)
    seeds = validation.int_list(args.seeds, "--seeds", low=0, high=validation.SEED_MAX) \
        if args.seeds is not None else (0,)
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
    validation.text(args.address, "--address", max_chars=253)
    if args.address not in LOOPBACK:
        print(f"unlearn: the dashboard will listen on {args.address}, reachable from other machines without a "
              "password; see docs/security.md to put it behind an authenticating TLS proxy", file=sys.stderr)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), *SAFE_SERVER_FLAGS]
    return run_forwarding_signals(command, cwd=app.parent)


FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_forwarding_signals(command: list[str], cwd: Path) -> int:
    """Runs `command` as a child and passes SIGTERM/SIGINT/SIGHUP on to it, so that a service manager stopping
    `unlearn dashboard` stops the server too instead of leaving it running as an orphan. Returns the child's exit
    code (128 + N when signal N ended it, as a shell reports it)."""
    child: list[subprocess.Popen] = []
    early: list[int] = []  # signals that arrived before the child existed

    def forward(signum: int, frame: Any) -> None:
        if not child:
            early.append(signum)
        elif child[0].poll() is None:
            child[0].send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}  # before the child starts
    try:
        child.append(subprocess.Popen(command, cwd=cwd, env=os.environ.copy()))
        for signum in early:
            child[0].send_signal(signum)
        code = child[0].wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


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
    _add_band_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compare", help="run several methods on one scenario")
    _add_experiment_args(p)
    _add_forget_args(p)
    p.add_argument("--methods", required=True, help="comma-separated names, or 'all'")
    _add_band_args(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("band", help="train the retrain band that calibrates verdicts (K independent retrains)")
    _add_experiment_args(p)
    _add_forget_args(p)
    p.add_argument("--method", default="retrain",
                   help="a method whose base model the band is for (methods needing training artifacts run on a "
                        "variant of the model, with its own oracle and band; default: the plain model)")
    p.add_argument("--k", type=int, default=2, help="number of independent retrains (default: 2)")
    p.add_argument("--cost-only", action="store_true", help="only say what training the band would cost")
    p.set_defaults(func=cmd_band)

    p = sub.add_parser("sweep", help="run a grid of method parameters over seeds, in parallel",
                       description="unlearn sweep (--method NAME [--grid PARAM=V1,V2 | PARAM=log:LOW:HIGH:NUM ...])... "
                                   "| --config sweep.json. Cells already finished in the workspace are not run "
                                   "again, so an interrupted sweep resumes where it stopped.")
    p.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    p.add_argument("--arch", default="cnn", help="architecture: mlp, cnn, resnet18 (default: cnn)")
    p.add_argument("--epochs", type=EPOCHS_ARG, default=None,
                   help="training epochs of the base model (default: the recipe's)")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE", help="dataset option")
    p.add_argument("--forget-classes", help="comma-separated classes, e.g. 3,7")
    p.add_argument("--forget-random", type=FRACTION_ARG, help="random fraction of the training set, e.g. 0.1")
    p.add_argument("--forget-indices", help="comma-separated training indices")
    p.add_argument("--forget-seed", type=SEED_ARG, default=0, help="seed of a random forget set (default 0)")
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
    p.add_argument("--workers", type=WORKERS_ARG, default=None,
                   help="parallel cells (default: one per core / Ray CPU)")
    p.add_argument("--threads", type=THREADS_ARG, default=None, help="torch threads per worker (default: a fair share)")
    p.add_argument("--gpus-per-cell", type=GPU_SHARE_ARG, default=None, help="Ray: share of a GPU per cell")
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
    recipe = p.add_argument_group("the checkpoint's training recipe, used for its retrain oracle",
                                  "state how it was trained (with --epochs); unstated fields keep the lab's default "
                                  "recipe for the dataset and architecture")
    recipe.add_argument("--optimizer", choices=("adam", "sgd"), default=None)
    recipe.add_argument("--lr", type=NUMBER_ARG, default=None)
    recipe.add_argument("--momentum", type=NUMBER_ARG, default=None)
    recipe.add_argument("--weight-decay", type=NUMBER_ARG, default=None)
    recipe.add_argument("--schedule", choices=("constant", "cosine", "step"), default=None)
    recipe.add_argument("--batch-size", type=COUNT_ARG, default=None)
    recipe.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random crop and flip")
    p.add_argument("--add-codes", type=EPOCHS_ARG, default=None, metavar="EPOCHS",
                   help="our extension: fine-tune the import EPOCHS epochs with mnemonic codes, so the mnemonic "
                        "method can run on it (stored as a new model)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("archs", help="list the architectures with their parameter counts")
    p.add_argument("--dataset", default="digits", help="dataset whose input and classes size the models")
    p.add_argument("--dataset-option", action="append", metavar="KEY=VALUE", help="dataset option")
    p.add_argument("--cost", action="store_true", help="also count FLOPs of one training step per image")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=cmd_archs)

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
    p.add_argument("--max-train", type=int, default=None, metavar="N",
                   help="run a Fashion-MNIST scenario on a seeded subset of N training images (stated in the table)")
    p.add_argument("--max-test", type=int, default=None, metavar="N", help="likewise for the test images")
    p.add_argument("--resume", action="store_true",
                   help="continue the partial table in --out-dir (a stopped run) from its first unfinished case")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("dashboard", help="start the Streamlit dashboard on localhost")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=PORT_ARG, default=8501)
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from unlearn_core.data.base import LOADING_PROGRESS

    LOADING_PROGRESS.set(_progress_printer(True))  # stderr: a first load of a large image folder takes a while
    args.closing = contextlib.ExitStack()
    try:
        with args.closing:
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
