"""Each seed method (and SSD) against its official code: same model, same data, one thread, digits class 3.

Usage:
    python benchmarks/official_speed.py --official-semu DIR --official-ssd DIR [--repeats 7] \
        [--svc-data /usr/share/datasets/fashion-mnist] > benchmarks/official_speed.md

`--official-semu` is a checkout of gmum/semu's `Classification` folder and `--official-ssd` one of
if-loops/selective-synaptic-dampening's `src` folder; their code is imported from there at run time and never
copied into this project. Without a flag that side is left out of the table. SLUG's, the mnemonic code's and the
partial methods' official code cannot run on this model (the table says why); for them the "official" column times
the official algorithm's steps as its code runs them, written out here (`official_steps_*`), without this project's
monitoring and diagnostics.

Every method gets the same base model (the Lab's default digits CNN, seed 0) and the same forget set; each side is
timed `--repeats` times, alternating, and the median is reported, with the load average, because the machine is
shared. `--svc-data` adds the cost of SalUn's SVC membership attack at 60,000 Fashion-MNIST training images.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import math
import os
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from unlearn_core.data import ForgetSpec, Splits, load_dataset
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.methods import UnlearnContext, get_method
from unlearn_core.methods.base import TrainingArtifacts, execute_method
from unlearn_core.metrics.mia import SVC_SHADOW_CAP
from unlearn_core.models.training import UpdateLog
from unlearn_core.store import Store

FORGET_CLASS = 3


class IndexedImages(Dataset):
    """In-memory images with a `targets` array, the shape of the SalUn/SEMU datasets (the official SEMU loop
    replaces `targets` with random labels every epoch); items are (image, target)."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.images = images
        self.targets = targets.numpy()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.targets[i])


class TripleImages(Dataset):
    """Items (image, coarse label, label) as the SSD repository's datasets yield them; the coarse label is unused."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return self.images[i], int(self.targets[i]), int(self.targets[i])


@contextlib.contextmanager
def official_import_path(folder: Path, stub_modules: tuple[str, ...]) -> Iterator[None]:
    """Puts `folder` first on sys.path; modules named in `stub_modules` that are not installed become placeholders
    whose every attribute is None (imports the official files make at the top but the timed functions never use:
    logging, plotting and ImageNet data helpers)."""
    for name in stub_modules:
        try:
            __import__(name)
        except ImportError:
            placeholder = types.ModuleType(name)
            placeholder.__getattr__ = lambda attr: None  # type: ignore[method-assign]
            sys.modules[name] = placeholder
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


@contextlib.contextmanager
def cuda_calls_stay_on_cpu() -> Iterator[None]:
    """The official SEMU loop calls `.cuda()` on every batch; here that is the identity, so it runs on the CPU."""
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def official_semu(folder: Path, cfg: object) -> Callable[[nn.Module, Splits], None]:
    """The official `own_SVD` unlearning (transform_model + training epochs) with our SEMU defaults as its args."""
    with official_import_path(folder, ("imagenet", "lmdb")):
        from unlearn.own_SVD import own_svd  # type: ignore[import-not-found]
    args = argparse.Namespace(
        decreasing_lr="91,136", explained_variance_ratio=cfg.tau, use_projection_grad=cfg.use_projection,
        unlearn_lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, imagenet_arch=False,
        unlearn="own_SVD", rewind_epoch=0, early_exit=cfg.early_exit, early_exit_patience=cfg.patience,
        early_exit_min_delta=cfg.min_delta, unlearn_epochs=cfg.epochs, warmup=0, num_classes=10,
        use_retaining_data=cfg.use_retain_data, batch_size=cfg.batch_size, print_freq=10**9)

    def run(model: nn.Module, splits: Splits) -> None:
        loaders = {"forget": DataLoader(IndexedImages(*splits.forget()), batch_size=cfg.batch_size),
                   "retain": DataLoader(IndexedImages(*splits.retain()), batch_size=cfg.batch_size)}
        np.random.seed(0)
        with cuda_calls_stay_on_cpu(), contextlib.redirect_stdout(io.StringIO()):
            own_svd(loaders, model, nn.CrossEntropyLoss(), args)

    return run


def official_ssd(folder: Path, alpha: float, dampening: float) -> Callable[[nn.Module, Splits], None]:
    """The official ParameterPerturber on the official class-forgetting loaders: the forget class, and the retain
    set grouped class by class followed by the forget set, unshuffled, batches of 64."""
    with official_import_path(folder, ("wandb", "seaborn")), contextlib.redirect_stdout(io.StringIO()):
        import ssd  # type: ignore[import-not-found]

    def run(model: nn.Module, splits: Splits) -> None:
        x, y = splits.dataset.x_train, splits.dataset.y_train
        forget = splits.forget_idx[torch.sort(y[splits.forget_idx], stable=True).indices]
        retain = splits.retain_idx[torch.sort(y[splits.retain_idx], stable=True).indices]
        full = torch.cat([retain, forget])
        forget_dl = DataLoader(TripleImages(x[forget], y[forget]), batch_size=64)
        full_dl = DataLoader(TripleImages(x[full], y[full]), batch_size=64)
        parameters = {"lower_bound": 1, "exponent": 1, "magnitude_diff": None, "min_layer": -1, "max_layer": -1,
                      "forget_threshold": 1, "dampening_constant": dampening, "selection_weighting": alpha}
        with contextlib.redirect_stdout(io.StringIO()):
            perturber = ssd.ParameterPerturber(model, torch.optim.SGD(model.parameters(), lr=0.1), "cpu",
                                               parameters)
            model.eval()
            forget_imp = perturber.calc_importance(forget_dl)
            full_imp = perturber.calc_importance(full_dl)
            perturber.modify_weight(full_imp, forget_imp)

    return run


def official_steps_slug(search_steps: int, eval_samples: int, retain_samples: int, seed: int
                        ) -> Callable[[nn.Module, Splits], None]:
    """SLUG as the official `calc_grad.py` and `unlearn_slug.py` run it, on a classifier (the official code needs
    OpenCLIP models and zero-shot evaluation): forget and retain gradients as means over batches of 16, importance
    and alignment of every candidate tensor, the Pareto front, then for every front layer `search_steps`
    evaluations of forget, retain and test accuracy (the official forget, CelebA and ImageNet accuracies) while
    lambda doubles and bisects. Same retain subset and evaluation samples as ours."""
    from unlearn_core.methods.slug import _subsample, candidate_tensors

    def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return (model(x).argmax(1) == y).float().mean().item()

    def batch16_gradient(model: nn.Module, weights: dict[str, nn.Parameter], x: torch.Tensor, y: torch.Tensor,
                         sign: float) -> dict[str, torch.Tensor]:
        total = {n: torch.zeros_like(w) for n, w in weights.items()}
        batches = range(0, len(y), 16)
        for start in batches:
            model.zero_grad()
            (sign * F.cross_entropy(model(x[start:start + 16]), y[start:start + 16])).backward()
            for n, w in weights.items():
                total[n] += w.grad
        return {n: g / len(batches) for n, g in total.items()}

    def run(model: nn.Module, splits: Splits) -> None:
        ctx = UnlearnContext(seed=seed)
        model.eval()
        weights = candidate_tensors(model)
        xf, yf = splits.forget()
        xr, yr = _subsample(*splits.retain(), retain_samples, ctx.generator(1))
        xr_eval, yr_eval = _subsample(*splits.retain(), eval_samples, ctx.generator(2))
        xt_eval, yt_eval = _subsample(*splits.test(), eval_samples, ctx.generator(3))
        g_forget = batch16_gradient(model, weights, xf, yf, -1.0)  # the official code stores grad of -L_f
        g_retain = batch16_gradient(model, weights, xr, yr, 1.0)
        xf_eval, yf_eval = _subsample(xf, yf, eval_samples, ctx.generator(4))
        scores = {}
        for n, w in weights.items():
            gf, gr = g_forget[n].flatten(), g_retain[n].flatten()
            scores[n] = (float(gf.norm() / w.detach().norm()), float((gf @ gr).abs() / (gf.norm() * gr.norm())))
        front = [n for n, (imp, ali) in scores.items()
                 if not any(a < ali and i > imp for i, a in scores.values())]
        for n in front:
            weight, start = weights[n], weights[n].detach().clone()
            ratio = -0.1 * float(start.norm() / g_forget[n].norm())  # theta + ratio * stored gradient, ratio < 0
            lo, hi = 0.0, math.inf
            for _ in range(search_steps):
                with torch.no_grad():
                    weight.copy_(start + ratio * g_forget[n])
                forget_acc = accuracy(model, xf_eval, yf_eval)
                accuracy(model, xr_eval, yr_eval)
                accuracy(model, xt_eval, yt_eval)
                if forget_acc > 0:
                    lo, ratio = ratio, 2 * ratio if math.isinf(hi) else (ratio + hi) / 2
                else:
                    hi, ratio = ratio, (lo + ratio) / 2
            with torch.no_grad():
                weight.copy_(start)

    return run


def official_steps_mnemonic(lambda1: float, lambda2: float) -> Callable[[nn.Module, Splits, torch.Tensor], None]:
    """The official `get_fishers`, `forget` and `test_with_MNCodes` steps (the code itself cannot run here, see the
    table): one backward pass per code with batch 1, squared gradients summed from a 1e-16 floor and divided by
    the number of codes, the perturbation of both model copies tensor by tensor, and both copies scored on the
    codes one code at a time."""

    def run(model: nn.Module, splits: Splits, codes: torch.Tensor) -> None:
        forget = set(splits.forget_classes)
        params = dict(model.named_parameters())
        fishers = [{n: torch.full_like(p, 1e-16) for n, p in params.items()} for _ in range(2)]
        counts = [0, 0]
        model.eval()
        for c in range(len(codes)):
            model.zero_grad()
            F.cross_entropy(model(codes[c][None]).view(1, -1), torch.tensor([c])).backward()
            side = 0 if c in forget else 1
            counts[side] += 1
            for n, p in params.items():
                fishers[side][n] += p.grad ** 2
        for side in range(2):
            for n in params:
                fishers[side][n] /= counts[side]
        scores = []
        for sign in (1.0, -1.0):
            copy_ = copy.deepcopy(model)
            with torch.no_grad():
                for n, p in copy_.named_parameters():
                    noise = torch.log(fishers[0][n]) - torch.log(fishers[1][n])
                    noise[noise != noise] = 0
                    noise[torch.isinf(noise)] = torch.max(noise[~torch.isinf(noise)])
                    noise = torch.exp(noise)
                    p += sign * min(lambda1, lambda2 / torch.max(noise).item()) * noise
                hits = [0, 0]
                for c in range(len(codes)):
                    hits[0 if c in forget else 1] += int(copy_(codes[c][None]).argmax(1).item() == c)
            scores.append(1 - hits[0] / counts[0] + hits[1] / counts[1])

    return run


def official_steps_partial(forget_objective: str, cfg: object, seed: int) -> Callable[[nn.Module, Splits], None]:
    """Layer-wise partial updates (no official code exists): the algorithm our method implements, as a bare loop
    with nothing but what the update and the stop rule need (no history, no mask counts). Same seeds, so the same
    batches and the same number of epochs as ours."""
    from unlearn_core.methods._common import minibatches, random_wrong_labels
    from unlearn_core.models.training import keep_count, make_optimizer

    def run(model: nn.Module, splits: Splits) -> None:
        xf, yf = splits.forget()
        xr, yr = splits.retain()
        gen = UnlearnContext(seed=seed).generator()
        optimizer = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, 0.9, 0.0)
        params = list(model.parameters())
        for _ in range(cfg.epochs):
            wrong = random_wrong_labels(yf, splits.num_classes, gen)
            model.train()
            for idx in minibatches(len(yf), cfg.batch_size, gen, torch.device("cpu")):
                logits = model(xf[idx])
                loss = F.cross_entropy(logits, wrong[idx]) if forget_objective == "label_flip" else \
                    -F.cross_entropy(logits, yf[idx])
                if cfg.use_retain:
                    ridx = torch.randint(0, len(yr), (len(idx),), generator=gen)
                    loss = loss + cfg.retain_weight * F.cross_entropy(model(xr[ridx]), yr[ridx])
                optimizer.zero_grad()
                loss.backward()
                with torch.no_grad():
                    masks = []
                    for p in params:
                        flat = p.grad.abs().flatten()
                        mask = torch.zeros_like(flat, dtype=torch.bool)
                        mask[torch.topk(flat, keep_count(flat.numel(), cfg.rho_u), sorted=False).indices] = True
                        masks.append((mask.view_as(p), p.detach().clone()))
                    optimizer.step()
                    for p, (mask, before) in zip(params, masks, strict=True):
                        p.copy_(torch.where(mask, p, before))
            model.eval()
            with torch.no_grad():
                if (model(xf).argmax(1) == yf).float().mean().item() <= cfg.target_forget_acc:
                    break

    return run


def recorded_at(log: UpdateLog, rho: float) -> UpdateLog:
    """`log` as training would have recorded it at keep ratio `rho`: every step pruned per layer when stored."""
    from unlearn_core.models.training import prune_per_layer

    pruned = UpdateLog(log.names, log.shapes, rho, batch_ids=list(log.batch_ids))
    for t in range(log.num_steps):
        positions, values = prune_per_layer(log.dense_step(t).float(), log.layer_slices(), rho)
        pruned.positions.append(positions)
        pruned.values.append(values)
    return pruned


def official_steps_partial_amnesiac(artifacts: TrainingArtifacts, rho: float
                                    ) -> tuple[Callable[[Splits], object], Callable[[nn.Module, object], None]]:
    """Partial amnesiac unlearning as the paper's Alg. 1 describes it (no official code): the updates were pruned
    per layer when they were recorded, so unlearning only subtracts the stored pruned updates of the touched steps.
    Returns (prepare, run): `prepare` prunes the log as training would have (not timed), `run` subtracts."""
    from unlearn_core.models.training import prune_per_layer

    log = artifacts.updates

    def prepare(splits: Splits) -> list[tuple[torch.Tensor, torch.Tensor]]:
        slices = log.layer_slices()
        steps = log.steps_touching(splits.forget_idx)
        return [prune_per_layer(log.dense_step(t).float(), slices, rho) for t in steps]

    def run(model: nn.Module, pruned: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        total = torch.zeros(log.numel)
        for positions, values in pruned:
            total[positions.long()] += values
        with torch.no_grad():
            for p, sl in zip(model.parameters(), log.layer_slices(), strict=True):
                p.sub_(total[sl].view_as(p))

    return prepare, run


def median_seconds(sides: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Each side's median time over `repeats` runs, the sides alternating so that load changes hit both."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for timed in sides.values():
        timed()  # warm-up, untimed: first-call costs (vmap tracing, allocator) are not the method's
    for _ in range(repeats):
        for name, timed in sides.items():
            times[name].append(timed())
    return {name: statistics.median(values) for name, values in times.items()}


def timed_official(run: Callable[..., None], model: nn.Module, *args: object) -> Callable[[], float]:
    def timed() -> float:
        working = copy.deepcopy(model)
        torch.manual_seed(0)
        start = time.perf_counter()
        run(working, *args)
        return time.perf_counter() - start
    return timed


def timed_ours(method: str, params: dict, model: nn.Module, splits: Splits, artifacts: TrainingArtifacts,
               seed: int) -> Callable[[], float]:
    impl = get_method(method)
    cfg = impl.Config.from_values(params)
    return lambda: execute_method(impl, model, splits, artifacts, cfg, UnlearnContext(seed=seed)).seconds


SEMU_NOT_GIVEN = "not run: pass --official-semu (a gmum/semu checkout's Classification folder)"
SSD_NOT_GIVEN = "not run: pass --official-ssd (an if-loops/selective-synaptic-dampening checkout's src folder)"


def speed_rows(args: argparse.Namespace, lab: Lab) -> list[tuple[str, str, float, float | None, str]]:
    """(method, our settings, our seconds, official seconds or None, what the official side is)."""
    base = lab.base_model(ExperimentSpec())
    model, artifacts = base.model, base.artifacts
    splits = Splits.build(load_dataset("digits"), ForgetSpec(classes=(FORGET_CLASS,)), torch.device("cpu"))
    seed = 0
    rows = []
    pruned_artifacts = artifacts

    def add(method: str, params: dict, official: Callable[[], float] | None, what: str) -> None:
        shown = dict(params)
        given = pruned_artifacts if shown.pop("log", None) else artifacts
        sides = {"ours": timed_ours(method, shown, model, splits, given, seed)}
        if official is not None:
            sides["official"] = official
        got = median_seconds(sides, args.repeats)
        settings = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        rows.append((method, settings, got["ours"], got.get("official"), what))
        print(f"{method} ({settings}): {got}", file=sys.stderr)

    semu_cfg = get_method("semu").Config()
    add("semu", {}, timed_official(official_semu(args.official_semu, semu_cfg), model, splits)
        if args.official_semu else None,
        "the official code (gmum/semu@2c4c3f8 `own_SVD`: transform_model + its epochs), our defaults as its "
        "arguments, DataLoaders over the same tensors" if args.official_semu else SEMU_NOT_GIVEN)
    slug_cfg = get_method("slug").Config()
    add("slug", {}, timed_official(official_steps_slug(slug_cfg.search_steps, slug_cfg.eval_samples,
                                                       slug_cfg.retain_samples, seed), model, splits),
        "the official steps (`official_steps_slug`): the official code needs OpenCLIP models and zero-shot "
        "evaluation, so it cannot run on a classifier")
    mn_cfg = get_method("mnemonic").Config()
    add("mnemonic", {}, timed_official(official_steps_mnemonic(mn_cfg.lambda1, mn_cfg.lambda2), model, splits,
                                       artifacts.codes),
        "the official steps (`official_steps_mnemonic`): the official code reshapes codes to 28x28 or larger "
        "(no 8x8 digits), imports timm and configargparse (not installed), and its licence forbids modifying it")
    rho = get_method("partial_amnesiac").Config().rho
    prepare, subtract = official_steps_partial_amnesiac(artifacts, rho)
    paper_side = timed_official(subtract, model, prepare(splits))
    add("partial_amnesiac", {"force": True}, paper_side,
        "no official code; the paper's Alg. 1 at unlearning time: subtract the updates pruned when they were "
        "recorded (`official_steps_partial_amnesiac`). The Lab's base model records them dense so that any rho "
        "can be explored, so ours prunes the touched steps here")
    pruned_artifacts = dataclasses.replace(artifacts, updates=recorded_at(artifacts.updates, rho))
    add("partial_amnesiac", {"force": True, "log": f"recorded at rho={rho:g}"}, paper_side,
        "as above, with ours given the paper's storage: the same log pruned per step at record time")
    for method, objective in (("partial_label_flip", "label_flip"), ("partial_gradient_ascent", "ascent")):
        add(method, {}, timed_official(official_steps_partial(objective, get_method(method).Config(), seed),
                                       model, splits),
            "no official code; the same algorithm as a bare loop (`official_steps_partial`): no history, no "
            "mask counts")
    ssd_cfg = get_method("ssd").Config()
    ssd_official = timed_official(official_ssd(args.official_ssd, ssd_cfg.alpha, ssd_cfg.dampening), model,
                                  splits) if args.official_ssd else None
    ssd_what = ("the official code (if-loops/selective-synaptic-dampening@cdfdc0e `ParameterPerturber`) on the "
                "official class-forgetting loaders" if args.official_ssd else SSD_NOT_GIVEN)
    add("ssd", {}, ssd_official, ssd_what)
    add("ssd", {"compare_compositions": True}, ssd_official,
        ssd_what + "; ours also computes the shuffled composition for the Inside page")
    return rows


SPREAD_SAMPLES = 3  # random capped shadow samples showing the attack's own sampling spread


def svc_costs(folder: Path, seed: int) -> tuple[list[tuple], float]:
    """SalUn's SVC attack (true-class confidence) at 60,000 Fashion-MNIST training images, on a cnn_flat trained
    one epoch (Adam 1e-3, batch 128, one thread): per forget set, (name, forget size, shadow n official, official
    seconds, official value, capped seconds, capped value, lowest and highest value over random capped shadow
    samples). Returns the rows and the training seconds."""
    from unlearn_core.metrics.evaluate import predict_probs
    from unlearn_core.metrics.mia import shadow_split, svc_mia_efficacy, true_class_confidence
    from unlearn_core.models.architectures import build_model

    ds = load_dataset("fashion_mnist", root=str(folder))
    torch.manual_seed(seed)
    model = build_model("cnn_flat", tuple(ds.x_train.shape[1:]), ds.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    start = time.perf_counter()
    model.train()
    for idx in torch.randperm(len(ds.y_train)).split(128):
        optimizer.zero_grad()
        F.cross_entropy(model(ds.x_train[idx]), ds.y_train[idx]).backward()
        optimizer.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    train_conf = true_class_confidence(predict_probs(model, ds.x_train), ds.y_train)
    test_conf = true_class_confidence(predict_probs(model, ds.x_test), ds.y_test)
    rows = []
    scenarios = (("class 7 (Sneaker)", ForgetSpec(classes=(7,))), ("random 10%", ForgetSpec(random_fraction=0.1)))
    for name, spec in scenarios:
        splits = Splits.build(ds, spec, torch.device("cpu"))
        target = train_conf[splits.forget_idx.numpy()]
        measured = []
        for cap in (None, SVC_SHADOW_CAP):  # the official uncapped shadow set, then ours
            members, n = shadow_split(splits.retain_idx, len(ds.y_test), cap=cap)
            start = time.perf_counter()
            value = svc_mia_efficacy(train_conf[members], test_conf[:n], target)
            measured.append((n, time.perf_counter() - start, value))
        (n_official, t_official, v_official), (_, t_capped, v_capped) = measured
        # how much the attack itself moves with its shadow sample: random balanced samples of the capped size
        # drawn from the official shadow set
        rng = np.random.default_rng(seed)
        official_members = shadow_split(splits.retain_idx, len(ds.y_test), cap=None)[0]
        n_cap = min(SVC_SHADOW_CAP, n_official)
        spread = [svc_mia_efficacy(train_conf[rng.choice(official_members, n_cap, replace=False)],
                                   test_conf[rng.choice(n_official, n_cap, replace=False)], target)
                  for _ in range(SPREAD_SAMPLES)]
        rows.append((name, len(target), n_official, t_official, v_official, t_capped, v_capped, min(spread),
                     max(spread)))
        print(f"SVC {name}: {measured}", file=sys.stderr)
    return rows, train_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-semu", type=Path, help="gmum/semu checkout's Classification folder")
    parser.add_argument("--official-ssd", type=Path, help="if-loops/selective-synaptic-dampening checkout's src folder")
    parser.add_argument("--repeats", type=int, default=7, help="timings per side (the median is reported)")
    parser.add_argument("--svc-data", type=Path, help="Fashion-MNIST folder for the SVC attack's cost at 60k")
    parser.add_argument("--home", type=Path, help="scratch store for the base model (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    home = args.home or Path(os.environ.get("TMPDIR", "/tmp")) / "official_speed_home"
    lab = Lab(Store(str(home)), device="cpu")
    lab.base_model(ExperimentSpec())  # trained (or loaded) before anything is timed
    load_before = os.getloadavg()
    rows = speed_rows(args, lab)
    load_after = os.getloadavg()
    svc = svc_costs(args.svc_data, 0) if args.svc_data else None
    load_end = os.getloadavg()

    def fmt(load: tuple[float, float, float]) -> str:
        return ", ".join(f"{v:.1f}" for v in load)

    print("# Seed methods against their official code: digits CNN, class 3, one thread\n")
    print(f"Produced by `python benchmarks/official_speed.py` on {time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} "
          f"CPUs, torch {torch.__version__}, one intra-op thread). Same base model (the Lab's default digits CNN, "
          f"seed 0), same forget set (class {FORGET_CLASS}), seed 0 on both sides; median of {args.repeats} timings "
          "per side, the sides alternating. Ours is timed by `execute_method` (the method call alone), the "
          "official side from a fresh copy of the model. Load average (1, 5, 15 min) before the timings: "
          f"{fmt(load_before)}; after: {fmt(load_after)} -- a shared machine, so compare the ratios, which come "
          "from interleaved runs.\n")
    print("| method | our settings | ours (s) | official (s) | ours / official | official side |")
    print("|---|---|---|---|---|---|")
    for method, settings, ours, official, what in rows:
        off = f"{official:.3f}" if official is not None else "–"
        ratio = f"{ours / official:.2f}x" if official else "–"
        print(f"| {method} | {settings} | {ours:.3f} | {off} | {ratio} | {what} |")
    print("\nOfficial code runs from the folders given by `--official-semu` / `--official-ssd`: imported, never "
          "copied; placeholders stand in for modules the timed functions never call when they are not installed "
          "(SEMU's ImageNet and lmdb helpers, SSD's wandb and seaborn), and the official SEMU loop's `.cuda()` calls "
          "are the identity so that it runs on the CPU. The SEMU and SSD loops read their data through torch "
          "DataLoaders over the same in-memory tensors, as the official scripts do (without their image "
          "transforms). `partial_amnesiac` runs with force=true because class 3 sits in 659 of 660 recorded steps "
          "(the method refuses that by default).\n")
    if svc is not None:
        svc_rows, train_seconds = svc
        print("## SalUn's SVC membership attack at 60,000 Fashion-MNIST training images\n")
        print(f"A cnn_flat trained one epoch on the 60,000 training images ({train_seconds:.0f} s, one thread), "
              "true-class confidence as the feature. Official: SalUn's shadow set, the first |test| retain images "
              "as members and the 10,000 test images as non-members (20,000 points); ours: the same order and "
              f"balance capped at {SVC_SHADOW_CAP:,} per side (`mia.SVC_SHADOW_CAP`). One fit plus the prediction of "
              "every forget image; an evaluation asks for the confidence and the entropy attack twice each (metrics "
              "or privacy bundle, then signals), and now fits each once (`mia.svc_attack` keeps recent fits), so a "
              "model's evaluation costs two of these instead of four. Load average after: "
              f"{fmt(load_end)}.\n")
        print("| forget set | forget images | official shadow n per side | official (s) | official MIA-Efficacy | "
              f"capped (s) | capped MIA-Efficacy | MIA-Efficacy over {SPREAD_SAMPLES} random capped samples |")
        print("|---|---|---|---|---|---|---|---|")
        for name, n_forget, n_shadow, t_off, v_off, t_cap, v_cap, lo, hi in svc_rows:
            print(f"| {name} | {n_forget:,} | {n_shadow:,} | {t_off:.1f} | {v_off:.4f} | {t_cap:.1f} | {v_cap:.4f} | "
                  f"{lo:.4f} to {hi:.4f} |")
        print("\nThe last column draws balanced random samples of the capped size from the official shadow set: how "
              "far the attack moves with its shadow sample alone. A one-epoch model has no membership signal to "
              "find (members' and non-members' confidences have nearly the same distribution), so the SVC's "
              "boundary, and the share of forget images past it, depends on the sample; the capped value's change "
              "from the official one is of that size. On digits (397 test images) the cap changes nothing.")


if __name__ == "__main__":
    main()
