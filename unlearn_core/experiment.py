"""The Lab: trains or reuses base models and retrain oracles, runs methods, evaluates and stores runs.

The CLI, the dashboard's job runner, the report and the benchmarks all go through this facade, so a
number means the same thing wherever it is shown.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from unlearn_core import UserInputError, validation
from unlearn_core.data import (
    ForgetSpec,
    ImageDataset,
    Splits,
    checked_dataset_options,
    load_dataset,
    select_forget,
)
from unlearn_core.device import apply_threads, choose_threads, device_label, environment_versions, select_device
from unlearn_core.methods import (
    MethodDiverged,
    MethodNotApplicable,
    OracleModel,
    TrainingArtifacts,
    UnlearnCancelled,
    UnlearnContext,
    get_method,
    list_methods,
)
from unlearn_core.methods.base import execute_method, scenario_refusal
from unlearn_core.metrics import add_gaps, compute_metrics, model_outputs
from unlearn_core.metrics.evaluate import REFERENCES, non_finite_keys, reference_outputs, splits_key
from unlearn_core.metrics.privacy import finite_only, privacy_bundle
from unlearn_core.metrics.signals import model_signals
from unlearn_core.metrics.threshold import forget_statistics
from unlearn_core.metrics.verdicts import verdict
from unlearn_core.metrics.weights import layer_relative_change
from unlearn_core.models.architectures import build_model, count_parameters, resolve_arch
from unlearn_core.models.training import (
    TrainingCancelled,
    TrainRecipe,
    UpdateLog,
    accuracy,
    default_recipe,
    make_codes,
    recipe_summary,
    train_model,
    update_log_refusal,
)
from unlearn_core.progress import Progress, quiet, scaled, staged
from unlearn_core.results import RunRecord, Scenario, group_records
from unlearn_core.store import Store
from unlearn_core.validation import SEED_MAX

# Training options a method's artifacts need, applied to the base recipe when they are missing.
ARTIFACT_RECIPE_OPTIONS = {
    "mnemonic_codes": {"mnemonic_t_mix": 0.1},
    "update_log": {"record_updates": True, "record_rho": 1.0},
}
# What a model trained elsewhere can do about an artifact it lacks.
ARTIFACT_REMEDIES = {
    "mnemonic_codes": "it can get them by a short fine-tune with codes mixed into 10% of its training images, "
                      "our extension, not the paper's (`unlearn import ... --add-codes EPOCHS`, or Add mnemonic "
                      "codes on the Model page); the fine-tuned copy is a new model with its own oracle",
    "update_log": "the updates of a training run cannot be recovered afterwards, so there is no way to get them "
                  "for this checkpoint: train the architecture here, where the lab records them when a method "
                  "needs them",
}
ORACLE_RECIPE_WARNING = ("a retrain oracle trained with a recipe unlike the checkpoint's own (optimiser, epochs, "
                         "augmentation) skews every gap to retrain")



def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ExperimentSpec:
    """Dataset, architecture, training recipe and seed: everything that determines a base model."""

    dataset: str = "digits"
    arch: str = "cnn"
    seed: int = 0
    recipe: TrainRecipe | None = None
    dataset_options: tuple[tuple[str, Any], ...] = ()

    def resolved(self) -> ExperimentSpec:
        arch = resolve_arch(self.arch)  # `torchvision:NAME` -> its registered name; unknown names fail here
        options = checked_dataset_options(self.dataset, dict(self.dataset_options))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= SEED_MAX:
            raise UserInputError(f"seed must be a non-negative integer of at most {SEED_MAX}, got {self.seed!r}")
        recipe = self.recipe or default_recipe(self.dataset, arch)
        recipe.validate()
        return replace(self, arch=arch, recipe=recipe, dataset_options=tuple(sorted(options.items())))

    @property
    def key(self) -> str:
        spec = self.resolved()
        return _hash(spec.to_dict())

    def to_dict(self) -> dict:
        spec = self.resolved() if self.recipe is None else self
        return {"dataset": spec.dataset, "arch": spec.arch, "seed": spec.seed,
                "recipe": spec.recipe.to_dict(), "dataset_options": dict(spec.dataset_options)}

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentSpec:
        """From JSON (a run config, a preset, the dashboard's session): every field type-checked."""
        data = validation.mapping(data, "experiment")
        recipe = TrainRecipe.from_dict(data["recipe"]) if data.get("recipe") else None
        options = validation.mapping(data.get("dataset_options") or {}, "dataset_options")
        return cls(validation.text(data.get("dataset", "digits"), "dataset", max_chars=64),
                   validation.text(data.get("arch", "cnn"), "arch", max_chars=64),
                   validation.seed_value(data.get("seed", 0)), recipe, tuple(sorted(options.items())))

    def with_artifacts(self, needed: tuple[str, ...]) -> ExperimentSpec:
        """The same experiment trained with whatever extra training artifacts `needed` lists."""
        spec = self.resolved()
        options: dict[str, Any] = {}
        for name in needed:
            options.update(ARTIFACT_RECIPE_OPTIONS[name])
        if not options:
            return spec
        recipe = spec.recipe
        if "mnemonic_t_mix" in options and recipe.mnemonic_t_mix > 0:
            options.pop("mnemonic_t_mix")
        if "record_updates" in options and recipe.record_updates:
            options = {k: v for k, v in options.items() if k not in ("record_updates", "record_rho")}
        return replace(spec, recipe=replace(recipe, **options))


@dataclass
class BaseModel:
    """A trained model with the artifacts its training produced."""

    key: str
    spec: ExperimentSpec
    model: nn.Module
    artifacts: TrainingArtifacts
    meta: dict = field(default_factory=dict)


class Lab:
    """Facade over data, models, methods, metrics and the store. Safe to share between threads: shared
    models are never handed out for editing (methods get deep copies)."""

    def __init__(self, store: Store | None = None, device: str = "auto", threads: int | None = None) -> None:
        """`threads` fixes torch's intra-op threads for all work; None lets `choose_threads` pick them per model
        (UNLEARN_THREADS, when set, applies then)."""
        self.store = store or Store()
        self.device = select_device(device)
        self.threads = threads
        if threads is not None:
            choose_threads(requested=threads)  # a bad count fails here, before any work
        self._models: OrderedDict[str, BaseModel] = OrderedDict()
        self._lock = threading.RLock()
        self._key_locks: dict[str, threading.Lock] = {}

    # ---- data and models ----------------------------------------------------------------------------
    def dataset(self, spec: ExperimentSpec) -> ImageDataset:
        return load_dataset(spec.dataset, **dict(spec.dataset_options))

    def use_threads(self, model: nn.Module) -> dict:
        """Chooses and applies torch's threads for work on `model` in the calling thread; returns the choice as
        recorded in model metadata and run records."""
        choice = choose_threads(sum(p.numel() for p in model.parameters()), requested=self.threads)
        return apply_threads(choice).to_dict()

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _remember(self, base: BaseModel) -> BaseModel:
        with self._lock:
            self._models[base.key] = base
            self._models.move_to_end(base.key)
            while len(self._models) > 12:
                self._models.popitem(last=False)
        return base

    def base_model(self, spec: ExperimentSpec, progress: Progress = quiet,
                   stop: threading.Event | None = None) -> BaseModel:
        """Trains the base model for `spec`, or loads it from the store."""
        spec = spec.resolved()
        key = "base-" + spec.key
        with self._key_lock(key):
            if key in self._models:
                return self._models[key]
            dataset = self.dataset(spec)
            if self.store.has_model(key):
                return self._remember(self._load_base(key, spec, dataset))
            progress(0.0, f"training {spec.arch} on {spec.dataset}")
            model = self._fresh_model(spec, dataset)
            threads = self.use_threads(model)
            codes = make_codes(dataset.num_classes, dataset.input_shape, spec.seed) \
                if spec.recipe.mnemonic_t_mix > 0 else None
            outcome = train_model(model, dataset.x_train, dataset.y_train, spec.recipe, seed=spec.seed,
                                  device=self.device, codes=codes, eval_data=(dataset.x_test, dataset.y_test),
                                  progress=progress, stop=stop)
            x_test, y_test = dataset.x_test.to(self.device), dataset.y_test.to(self.device)
            meta = {
                "kind": "base", "dataset": spec.dataset, "arch": spec.arch, "spec": spec.to_dict(),
                "train_seconds": outcome.seconds, "history": outcome.history,
                "test_acc": accuracy(outcome.model, x_test, y_test),
                "train_acc": accuracy(outcome.model, dataset.x_train.to(self.device),
                                      dataset.y_train.to(self.device)),
                "num_params": sum(p.numel() for p in model.parameters()),
                "device": device_label(self.device), "threads": threads, "versions": environment_versions(),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
            tensors: dict[str, torch.Tensor] = {}
            if codes is not None:
                tensors["codes"] = codes
            if outcome.updates is not None:
                tensors.update(outcome.updates.to_tensors())
                meta["updates"] = outcome.updates.meta()
            self.store.save_model(key, "base", {k: v.cpu() for k, v in model.state_dict().items()}, meta, tensors)
            artifacts = self._artifacts(spec, dataset, codes, outcome.updates, meta)
            return self._remember(BaseModel(key, spec, model.eval(), artifacts, meta))

    def _fresh_model(self, spec: ExperimentSpec, dataset: ImageDataset) -> nn.Module:
        torch.manual_seed(spec.seed)
        return build_model(spec.arch, dataset.input_shape, dataset.num_classes)

    def _artifacts(self, spec: ExperimentSpec, dataset: ImageDataset, codes: torch.Tensor | None,
                   updates: UpdateLog | None, meta: dict) -> TrainingArtifacts:
        return TrainingArtifacts(spec.arch, dataset.input_shape, dataset.num_classes, spec.recipe, spec.seed,
                                 codes=codes, updates=updates, original_train_acc=meta.get("train_acc"))

    def _load_base(self, key: str, spec: ExperimentSpec, dataset: ImageDataset) -> BaseModel:
        state, meta, tensors = self.store.load_model(key)
        model = self._fresh_model(spec, dataset)
        model.load_state_dict(state)
        model.to(self.device).eval()
        self.use_threads(model)
        updates = UpdateLog.from_tensors(meta["updates"], tensors) if "updates" in meta else None
        artifacts = self._artifacts(spec, dataset, tensors.get("codes"), updates, meta)
        return BaseModel(key, spec, model, artifacts, meta)

    def stored_model(self, key: str) -> BaseModel:
        """A stored base or imported model, by its key."""
        with self._key_lock(key):
            if key in self._models:
                return self._models[key]
            if not self.store.has_model(key):
                known = ", ".join(m["key"] for m in self.store.list_models("imported")) or "none"
                raise UserInputError(f"no stored model {key!r}; imported models: {known}")
            _, meta, _ = self.store.load_model(key)
            spec = ExperimentSpec.from_dict(meta["spec"])
            return self._remember(self._load_base(key, spec, self.dataset(spec)))

    def has_model(self, key: str) -> bool:
        """Whether a model (base, retrain oracle or imported checkpoint) with this key is stored."""
        return self.store.has_model(key)

    def models(self, kind: str | None = None) -> list[dict]:
        """Index rows of the stored models ("base", "retrain", "imported" or all), newest first."""
        return self.store.list_models(kind)

    def base_for_record(self, record: RunRecord | dict) -> BaseModel:
        """The original model a run started from (a trained base model or an imported checkpoint)."""
        record = _as_record(record)
        key = record.experiment_key
        if key and self.store.has_model(key):
            return self.stored_model(key)
        return self.base_model(ExperimentSpec.from_dict(dict(record.experiment)))

    def oracle_for_record(self, record: RunRecord | dict) -> BaseModel:
        """The retrain oracle of the scenario a run belongs to (cached: trained once)."""
        record = _as_record(record)
        return self.retrain_oracle(self.base_for_record(record), record.forget_spec())

    def dataset_for_record(self, record: RunRecord | dict) -> ImageDataset:
        """The dataset a run used (with its dataset options)."""
        return self.dataset(ExperimentSpec.from_dict(dict(_as_record(record).experiment)))

    # ---- stored runs: the read side (types and grouping in unlearn_core.results) ----------------------------
    def runs(self, status: str | None = None, limit: int = 1000) -> list[dict]:
        """Index rows of the stored runs, newest first (cheap: no result file is read)."""
        return self.store.list_runs(status, limit)

    def sweeps(self) -> list[dict]:
        """The stored sweeps, as the store lists them (unlearn_core.studies.sweep writes them)."""
        return self.store.list_sweeps()

    def run_record(self, run_id: str) -> RunRecord:
        """The typed record of a stored run (a stub with status and error for one that stored no result), its
        verdicts re-derived against the retrain band cached now (`calibrated`)."""
        return RunRecord.from_dict(self.calibrated(self.store.get_run(run_id)))

    def scenarios(self, run_ids: list[str]) -> tuple[list[Scenario], list[RunRecord]]:
        """The runs grouped by scenario in the order given (duplicates dropped), and the runs without a stored
        configuration."""
        return group_records(self.run_record(r) for r in dict.fromkeys(run_ids))

    def run_model(self, run_id: str) -> nn.Module | None:
        """The model a stored run produced, on the Lab's device in eval mode; None when the run stored no weights
        (it failed or was cancelled)."""
        state = self.store.load_run_state(run_id)
        if state is None:
            return None
        spec = ExperimentSpec.from_dict(self.store.get_run(run_id)["experiment"])
        dataset = self.dataset(spec)
        model = build_model(spec.arch, dataset.input_shape, dataset.num_classes)
        model.load_state_dict(state)
        return model.to(self.device).eval()

    def layer_change(self, run_id: str) -> dict[str, float] | None:
        """‖θ − θ₀‖ / ‖θ₀‖ per parameter tensor of a stored run's model against its original (None without stored
        weights): the one computation behind the Inside page's and the report's layer-change figure."""
        model = self.run_model(run_id)
        if model is None:
            return None
        return layer_relative_change(self.base_for_record(self.run_record(run_id)).model, model)

    def run_diagnostics(self, run_id: str) -> dict:
        """What the run's method recorded on its way (tensors restored), {} when it recorded nothing."""
        return self.store.load_run_diagnostics(run_id)

    def register_imported(self, spec: ExperimentSpec, state: dict[str, torch.Tensor], source: str,
                          recipe_stated: bool = False) -> BaseModel:
        """Stores a user's validated weights as a base model of `spec`'s dataset and architecture.

        `spec.recipe` is what its retrain oracle will be trained with: the recipe the user stated as the
        checkpoint's own (`recipe_stated`), or the lab's default for the dataset and architecture, accepted."""
        from unlearn_core.models.checkpoint import load_validated

        spec = spec.resolved()
        dataset = self.dataset(spec)
        try:
            model = load_validated(build_model(spec.arch, dataset.input_shape, dataset.num_classes), state)
        except UserInputError as exc:
            hint = ("; a torchvision ResNet-18 checkpoint (its shortcuts are named `downsample`) fits "
                    "`torchvision:resnet18`" if spec.arch == "resnet18" and any(".downsample." in k for k in state)
                    else "")
            raise UserInputError(f"{exc} (architecture {spec.arch}, {dataset.num_classes} classes){hint}") from None
        # imported models have no recipe artifacts: codes and recorded updates are switched off
        recipe = replace(spec.recipe, mnemonic_t_mix=0.0, record_updates=False)
        spec = replace(spec, recipe=recipe)
        # the oracle's recipe is part of the key: the same weights imported with another recipe are another
        # experiment (their gaps to retrain differ), and must not overwrite the first
        digest = _hash({"weights": {k: float(v.float().sum()) for k, v in state.items()},
                        "oracle_recipe": recipe.to_dict(), "stated": recipe_stated, "spec": spec.to_dict()})
        key = f"import-{digest}"
        meta = {"source": source, "oracle_recipe": "stated" if recipe_stated else "default"}
        return self._store_imported(key, spec, model, dataset, meta, None)

    def _store_imported(self, key: str, spec: ExperimentSpec, model: nn.Module, dataset: ImageDataset, meta: dict,
                        codes: torch.Tensor | None) -> BaseModel:
        model.to(self.device).eval()
        meta = {"kind": "imported", "dataset": spec.dataset, "arch": spec.arch, "spec": spec.to_dict(), **meta,
                "test_acc": accuracy(model, dataset.x_test.to(self.device), dataset.y_test.to(self.device)),
                "num_params": sum(p.numel() for p in model.parameters()),
                "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.store.save_model(key, "imported", {k: v.cpu() for k, v in model.state_dict().items()}, meta,
                              {"codes": codes} if codes is not None else None)
        return self._remember(BaseModel(key, spec, model, self._artifacts(spec, dataset, codes, None, meta), meta))

    def add_mnemonic_codes(self, key: str, epochs: int = 2, progress: Progress = quiet,
                           stop: threading.Event | None = None) -> BaseModel:
        """Our extension, not the paper's: fine-tunes a stored model that was not trained with mnemonic codes for
        `epochs` epochs with codes mixed into 10% of its training images (at a tenth of its recipe's learning
        rate), so the mnemonic method can run on it. The result is a new imported model whose retrain oracle
        is trained from scratch with the same codes."""
        if not 1 <= int(epochs) <= 100:
            raise UserInputError(f"--add-codes takes 1 to 100 epochs, got {epochs}")
        base = self.stored_model(key)
        if base.artifacts.codes is not None:
            raise UserInputError(f"{key} already has mnemonic codes")
        spec, dataset = base.spec, self.dataset(base.spec)
        new_key = f"{key}-codes{int(epochs)}"
        if self.store.has_model(new_key):
            return self.stored_model(new_key)
        codes = make_codes(dataset.num_classes, dataset.input_shape, spec.seed)
        codes_recipe = replace(spec.recipe, mnemonic_t_mix=ARTIFACT_RECIPE_OPTIONS["mnemonic_codes"]["mnemonic_t_mix"])
        finetune = replace(codes_recipe, epochs=int(epochs), lr=spec.recipe.lr / 10)
        model = copy.deepcopy(base.model)
        outcome = train_model(model, dataset.x_train, dataset.y_train, finetune, seed=spec.seed, device=self.device,
                              codes=codes, progress=progress, stop=stop)
        meta = {"source": f"{base.meta.get('source', key)}, fine-tuned {int(epochs)} epochs with mnemonic codes "
                          "(our extension)",
                "oracle_recipe": base.meta.get("oracle_recipe", "default"), "codes_finetune_of": key,
                "codes_finetune": finetune.to_dict(), "history": outcome.history,
                "train_seconds": outcome.seconds}
        return self._store_imported(new_key, replace(spec, recipe=codes_recipe), model, dataset, meta, codes)

    @staticmethod
    def oracle_key(base_key: str, forget: ForgetSpec) -> str:
        """The store key of the retrain oracle of (base model, forget set)."""
        return f"retrain-{base_key.split('-', 1)[1]}-{forget.key}"

    def retrain_oracle(self, base: BaseModel, forget: ForgetSpec, progress: Progress = quiet,
                       stop: threading.Event | None = None, seed: int | None = None) -> BaseModel:
        """Same recipe on the retain set only; trained once per (base model, forget set, seed) and cached.

        `seed` None is the oracle (the base model's seed); another seed is an independent retrain, as the
        retrain band (studies/band.py) needs."""
        key = self.oracle_key(base.key, forget)
        if seed is not None and seed != base.spec.seed:
            key += f"-s{int(seed)}"
        train_seed = base.spec.seed if seed is None else int(seed)
        with self._key_lock(key):
            if key in self._models:
                return self._models[key]
            dataset = self.dataset(base.spec)
            if self.store.has_model(key):
                loaded = self._load_base(key, base.spec, dataset)
                return self._remember(loaded)
            splits = Splits.build(dataset, forget, self.device)
            x, y = splits.retain()
            progress(0.0, "training the retrain oracle" if train_seed == base.spec.seed else
                     f"training an independent retrain (seed {train_seed})")
            model = self._fresh_model(replace(base.spec, seed=train_seed), dataset)
            threads = self.use_threads(model)
            recipe = replace(base.spec.recipe, record_updates=False)
            outcome = train_model(model, x, y, recipe, seed=train_seed, device=self.device,
                                  sample_ids=splits.retain_idx, codes=base.artifacts.codes,
                                  progress=progress, stop=stop)
            meta = {"kind": "retrain", "dataset": base.spec.dataset, "arch": base.spec.arch,
                    "spec": base.spec.to_dict(), "base": base.key, "forget": forget.to_dict(),
                    "train_seed": train_seed, "train_seconds": outcome.seconds, "history": outcome.history,
                    "threads": threads, "device": device_label(self.device),
                    "created": time.strftime("%Y-%m-%d %H:%M:%S")}
            self.store.save_model(key, "retrain", {k: v.cpu() for k, v in model.state_dict().items()}, meta)
            artifacts = self._artifacts(base.spec, dataset, base.artifacts.codes, None, meta)
            return self._remember(BaseModel(key, base.spec, model.eval(), artifacts, meta))

    # ---- the retrain band (trained by studies/band.py; read here so every evaluation uses it) ------------
    @staticmethod
    def band_key(oracle_key: str, seed: int) -> str:
        return f"band-{oracle_key}-{seed}"

    def cached_band(self, oracle_key: str, seed: int) -> dict | None:
        """The retrain band of this oracle and evaluation seed, if it was trained (studies/band.py)."""
        return self.store.get_eval(self.band_key(oracle_key, seed))

    def calibrated(self, record: dict) -> dict:
        """`record` with its verdicts (run, original, retrain) re-derived against the band cached now, so a
        run stored before its band finished shows the calibrated verdict. The stored record is not changed."""
        if record.get("status") != "ok" or not record.get("metrics") or not record.get("retrain_key"):
            return record
        band = self.cached_band(record["retrain_key"], int(record.get("seed") or 0))
        original, retrain = record.get("original") or {}, record.get("retrain") or {}
        metrics = record["metrics"]
        ulira = self.store.get_eval(f"ulira-{record.get('run_id')}") if record.get("run_id") else None
        if ulira is not None and "signals" in metrics:  # U-LiRA counts once it was computed (studies/band.py)
            values = {**metrics["signals"].get("values", {}), "ulira": {"value": ulira["value"], "ci": ulira["ci"]}}
            metrics = {**metrics, "signals": {**metrics["signals"], "values": values}}
            if band is not None and ulira.get("band") is not None:
                band = {**band, "bands": {**band["bands"], "ulira": ulira["band"]}}
        out = dict(record)
        out["metrics"] = {**metrics, "verdict": verdict(metrics, original, retrain, band)}
        out["original"] = {**original, "verdict": verdict(original, original, retrain, band, role="original")}
        out["retrain"] = {**retrain, "verdict": verdict(retrain, original, retrain, band, role="retrain")}
        return out

    def signals(self, model: nn.Module, outputs: Any, splits: Splits, base: BaseModel, oracle: BaseModel,
                metrics: dict, seed: int, against_original: bool = True) -> dict:
        """metrics/signals.py for one model of this scenario (a run, a reference model or a band retrain)."""
        xf, yf = splits.forget()

        def reference_stats(reference: nn.Module) -> dict:  # cached per (model, forget set), as in privacy_bundle
            return REFERENCES.get(reference, ("forget_statistics", splits_key(splits)),
                                  lambda: forget_statistics(reference, xf, yf))

        oracle_stats = reference_stats(oracle.model)
        original_stats = reference_stats(base.model) if against_original else None
        return finite_only(model_signals(model, outputs, splits, oracle_stats, original_stats,
                                         metrics.get("mia_loss_auc"), seed))

    # ---- evaluation ---------------------------------------------------------------------------------
    def _reference_metrics(self, base: BaseModel, oracle: BaseModel, splits: Splits, seed: int) -> tuple[dict, dict]:
        """Metrics of the original model and of the retrain oracle (cached: never evaluated twice; their verdicts
        are re-derived every time, against the band as it is now)."""
        key = f"ref-{oracle.key}-{seed}"
        cached = self.store.get_eval(key)
        if cached is not None and "signals" in cached["original"]:  # entries from before the signals: redo
            original, retrain = _undefined_as_none(cached["original"]), _undefined_as_none(cached["retrain"])
            band = self.cached_band(oracle.key, seed)
            retrain["verdict"] = verdict(retrain, original, retrain, band, role="retrain")
            original["verdict"] = verdict(original, original, retrain, band, role="original")
            return original, retrain
        retrain_out, original_out = reference_outputs(oracle.model, splits), reference_outputs(base.model, splits)
        retrain = compute_metrics(retrain_out, splits, oracle.model, base.model, seed)
        original = compute_metrics(original_out, splits, base.model, base.model, seed)
        add_gaps(retrain, retrain)
        add_gaps(original, retrain)
        retrain["seconds"] = oracle.meta.get("train_seconds")
        original["seconds"] = 0.0
        retrain["privacy"] = privacy_bundle(oracle.model, base.model, oracle.model, splits, seed, retrain_out,
                                           retrain)
        original["privacy"] = privacy_bundle(base.model, base.model, oracle.model, splits, seed, original_out,
                                            original)
        retrain["signals"] = self.signals(oracle.model, retrain_out, splits, base, oracle, retrain, seed, False)
        original["signals"] = self.signals(base.model, original_out, splits, base, oracle, original, seed, False)
        band = self.cached_band(oracle.key, seed)
        retrain["verdict"] = verdict(retrain, original, retrain, band, role="retrain")
        original["verdict"] = verdict(original, original, retrain, band, role="original")
        original, retrain = _undefined_as_none(original), _undefined_as_none(retrain)
        self.store.put_eval(key, {"original": original, "retrain": retrain})
        return original, retrain

    def evaluate(self, model: nn.Module, base: BaseModel, retrain_metrics: dict, splits: Splits, seed: int) -> dict:
        """design.md section 4 metrics, plus `privacy` (attacks and per-layer CKA, metrics/privacy.py) and
        `verdict` (metrics/verdicts.py) as sub-dicts of the metrics."""
        outputs = model_outputs(model, splits)
        metrics = add_gaps(compute_metrics(outputs, splits, model, base.model, seed), retrain_metrics)
        oracle = self.retrain_oracle(base, splits.spec)  # cached: the run has just used it
        original_metrics, _ = self._reference_metrics(base, oracle, splits, seed)
        metrics["privacy"] = privacy_bundle(model, base.model, oracle.model, splits, seed, outputs, metrics)
        metrics["signals"] = self.signals(model, outputs, splits, base, oracle, metrics, seed)
        metrics["verdict"] = verdict(metrics, original_metrics, retrain_metrics, self.cached_band(oracle.key, seed))
        return metrics

    def reevaluate(self, run_id: str) -> dict:
        """Evaluates a finished run's stored model again with this build's metrics (a run evaluated by an earlier
        build lacks the signals its verdict's evidence needs) and stores the record back; returns it. The
        weights, parameters and run time are the run's own; a note says when it was re-evaluated."""
        record = self.store.get_run(run_id)
        model = self.run_model(run_id) if record.get("status") == "ok" else None
        if model is None:
            raise UserInputError(f"run {run_id} has no stored model to evaluate ({record.get('status')})")
        base = self.base_for_record(record)
        forget = ForgetSpec.from_dict(record["forget"])
        splits = Splits.build(self.dataset(base.spec), forget, self.device)
        seed = int(record.get("seed") or 0)
        oracle = self.retrain_oracle(base, forget)
        original, retrain = self._reference_metrics(base, oracle, splits, seed)
        metrics = self.evaluate(model, base, retrain, splits, seed)
        metrics["seconds"] = (record.get("metrics") or {}).get("seconds", record.get("seconds"))
        if non_finite_keys(metrics):
            metrics = _undefined_as_none(metrics)
        notes = [*record.get("notes", []), f"re-evaluated on {time.strftime('%Y-%m-%d %H:%M')} by a later build "
                 "(the weights are the run's own)"]
        record = {**record, "metrics": metrics, "original": original, "retrain": retrain, "notes": notes,
                  "versions": environment_versions()}
        self.store.finish_run(run_id, record, self.store.load_run_state(run_id),
                              self.store.load_run_diagnostics(run_id) or None)
        return record

    # ---- runs ---------------------------------------------------------------------------------------
    def applicability(self, method: str, spec: ExperimentSpec, forget: ForgetSpec) -> str | None:
        """None if `method` can run on this scenario (possibly on a variant base model), else why not."""
        impl = get_method(method)
        if forget.scenario not in impl.info.scenarios:
            return scenario_refusal(method, impl.info, forget.scenario)
        return None

    def variant_refusal(self, method: str, spec: ExperimentSpec) -> str | None:
        """Why the base model `method` runs on (`spec` with the artifacts it needs) cannot be trained here (its
        update log would exceed the limit), or None; a model already stored is never refused."""
        variant = spec.resolved().with_artifacts(get_method(method).info.needs_artifacts)
        if self.store.has_model("base-" + variant.key):
            return None
        dataset = self.dataset(variant)
        refusal = update_log_refusal(variant.recipe, len(dataset.y_train), count_parameters(
            variant.arch, dataset.input_shape, dataset.num_classes))
        return f"{method} cannot run on {variant.arch}: {refusal}" if refusal else None

    def check_run(self, spec: ExperimentSpec, forget: ForgetSpec, method: str, params: dict[str, Any] | None = None,
                  model_key: str | None = None) -> None:
        """Raises UserInputError for anything `run` would refuse that a user can fix (parameters, scenario, forget
        set, the method's own `check_inputs`), without training or loading weights: callers that do expensive work
        before `run` (the CLI's retrain band) call it first, so a mistake is refused up front."""
        impl = get_method(method)
        cfg = impl.Config.from_values(params)
        imported = self.stored_model(model_key) if model_key else None
        spec = imported.spec if imported else spec.resolved()
        reason = self.applicability(method, spec, forget)
        if reason:
            raise MethodNotApplicable(reason)
        dataset = self.dataset(spec)
        select_forget(forget, dataset)
        if imported is not None:
            model, artifacts = imported.model, imported.artifacts
        else:  # the same architecture untrained: the names and shapes a method checks are already there
            with torch.random.fork_rng():
                model = build_model(spec.arch, dataset.input_shape, dataset.num_classes)
            artifacts = self._artifacts(spec, dataset, None, None, {})
        impl.check_inputs(model, Splits.build(dataset, forget, torch.device("cpu")), artifacts, cfg)

    def run(
        self,
        spec: ExperimentSpec,
        forget: ForgetSpec,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        progress: Progress = quiet,
        stop: threading.Event | None = None,
        store_run: bool = True,
        model_key: str | None = None,
        run_id: str | None = None,
        retrain_seed: int | None = None,
        timer: AbstractContextManager | None = None,
    ) -> dict:
        """Runs one method and returns the run record of design.md section 5 (also stored).

        `model_key` runs on a stored model (e.g. an imported checkpoint) instead of the one `spec` trains; its
        retrain oracle is trained with the default recipe of its dataset and architecture. `run_id` stores the
        run under that id (a sweep's content-addressed cell id) instead of a fresh one. `retrain_seed` (method
        `retrain` only) makes the run an independent retrain trained with that seed (the retrain band's model,
        cached like the oracle), evaluated against the oracle like any run. `timer` is entered around the method
        call only (`execute_method`; the benchmarks measure CPU time and memory with it)."""
        if retrain_seed is not None and method != "retrain":
            raise UserInputError(f"a retrain seed is for the method retrain, not {method}")
        impl = get_method(method)
        cfg = impl.Config.from_values(params)
        imported = self.stored_model(model_key) if model_key else None
        spec = imported.spec if imported else spec.resolved()
        seed = spec.seed if seed is None else seed
        stop = stop or threading.Event()
        reason = self.applicability(method, spec, forget)
        if reason:
            raise MethodNotApplicable(reason)
        select_forget(forget, self.dataset(spec))  # a bad forget set fails before any model is trained
        notes: list[str] = []
        if imported is not None:
            missing = [a for a in impl.info.needs_artifacts if a not in imported.artifacts.available()]
            if missing:
                raise MethodNotApplicable(
                    f"{method} needs {missing[0].replace('_', ' ')} from training, which the imported checkpoint "
                    f"{model_key} lacks: {ARTIFACT_REMEDIES[missing[0]]}")
            variant, base = spec, imported
            notes.append(f"ran on the imported model {model_key}; its retrain oracle was trained with "
                         f"{oracle_recipe_text(imported.meta, spec.recipe)}: {ORACLE_RECIPE_WARNING}")
        else:
            variant = spec.with_artifacts(impl.info.needs_artifacts)
            if variant.key != spec.key:
                notes.append(f"{method} needs a base model trained with {', '.join(impl.info.needs_artifacts)}; "
                             f"this run uses (and trains once if needed) that variant of the chosen model, with "
                             f"its own original and retrain oracle")
            refusal = self.variant_refusal(method, spec) if variant.key != spec.key else None
            if refusal:
                raise MethodNotApplicable(refusal)
        # each stage that has work to do gets a share of the bar (a cached model none) and names itself in it
        base_key = imported.key if imported is not None else "base-" + variant.key
        stage = staged(progress, [
            ("original model", 0.0 if self.store.has_model(base_key) else 1.0),
            ("retrain oracle", 0.0 if self.store.has_model(self.oracle_key(base_key, forget)) else 1.0),
            (method, 1.0)], end=0.95)
        if imported is None:
            base = self.base_model(variant, stage["original model"], stop)
        dataset = self.dataset(variant)
        splits = Splits.build(dataset, forget, self.device)
        if impl.applicability(splits, base.artifacts) is not None:
            raise MethodNotApplicable(impl.applicability(splits, base.artifacts))
        impl.check_inputs(base.model, splits, base.artifacts, cfg)  # user errors refused before the run is stored
        oracle = self.retrain_oracle(base, forget, stage["retrain oracle"], stop)
        threads = self.use_threads(base.model)
        original_metrics, retrain_metrics = self._reference_metrics(base, oracle, splits, seed)
        record: dict[str, Any] = {
            "method": method, "title": impl.info.title, "family": impl.info.family, "params": cfg.to_dict(),
            "seed": seed, "device": device_label(self.device), "threads": threads, "experiment": variant.to_dict(),
            "experiment_key": base.key, "retrain_key": oracle.key, "forget": forget.to_dict(),
            "forget_summary": splits.summary(), "versions": environment_versions(), "notes": notes,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "original": original_metrics, "retrain": retrain_metrics, "run_id": run_id,
        }
        if retrain_seed is not None:
            record["retrain_seed"] = int(retrain_seed)
        run_id = self.store.start_run(record) if store_run else None
        record["run_id"] = run_id
        oracle_for_method = OracleModel(oracle.model, float(oracle.meta.get("train_seconds") or 0.0),
                                        oracle.meta.get("history", []))
        ctx = UnlearnContext(self.device, seed, stage[method], stop, oracle_for_method)
        state = diagnostics = None
        try:
            if retrain_seed is not None:  # inside the try: a cancel while it trains stores the run as cancelled
                retrain = self.retrain_oracle(base, forget, scaled(stage[method], 0.0, 0.9), stop, seed=retrain_seed)
                ctx = replace(ctx, oracle=OracleModel(retrain.model, float(retrain.meta.get("train_seconds") or 0.0),
                                                      retrain.meta.get("history", [])))
                notes.append(f"an independent retrain with training seed {retrain_seed} ({retrain.key}), not the "
                             "oracle: one model of the retrain band (studies/band.py)")
            execution = execute_method(impl, base.model, splits, base.artifacts, cfg, ctx, timer=timer)
            model, seconds = execution.result.model, execution.seconds
            diagnostics = execution.result.diagnostics
            notes.extend(execution.result.notes)
            # buffers too: a BatchNorm running variance that became NaN ruins every later prediction
            bad = [n for n, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
            if bad:
                raise MethodDiverged(f"non-finite weights in {', '.join(bad[:3])}: the method diverged")
            progress(0.95, "evaluating the unlearned model against retrain")
            metrics = self.evaluate(model, base, retrain_metrics, splits, seed)
            metrics["seconds"] = seconds
            # a metric the original model cannot have either (e.g. the loss attack on 2 forget images) is
            # undefined for this forget set, not a sign that the method diverged
            undefined = [k for k in non_finite_keys(metrics) if original_metrics.get(k) is None]
            bad_metrics = [k for k in non_finite_keys(metrics) if k not in undefined]
            if bad_metrics:
                raise MethodDiverged(f"metrics {', '.join(bad_metrics)} are not finite")
            if undefined:
                notes.append(f"{', '.join(undefined)} undefined for this forget set (as for the original model); "
                             "stored as null")
                metrics = _undefined_as_none(metrics)
            record.update(status="ok", seconds=seconds, metrics=metrics, error=None)
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        except (UnlearnCancelled, TrainingCancelled):
            record.update(status="cancelled", seconds=None, metrics=None, error="cancelled by the user")
        except (MethodDiverged, FloatingPointError) as exc:
            record.update(status="failed", seconds=None, metrics=None, error=str(exc))
        except MethodNotApplicable as exc:
            record.update(status="failed", seconds=None, metrics=None, error=str(exc))
        except BaseException as exc:
            record.update(status="failed", seconds=None, metrics=None, error=f"internal error: {exc!r}")
            if run_id:
                self.store.finish_run(run_id, record)
            raise
        if run_id:
            self.store.finish_run(run_id, record, state, diagnostics)  # marks the run failed if it cannot write
        progress(1.0, record["status"])
        return record

    def compare(self, spec: ExperimentSpec, forget: ForgetSpec, methods: list[str] | str,
                params: dict[str, dict] | None = None, *, seed: int | None = None,
                progress: Progress = quiet, stop: threading.Event | None = None,
                model_key: str | None = None,
                timer_for: Callable[[str], AbstractContextManager] | None = None) -> dict:
        """Runs several methods on one scenario; methods that cannot apply are skipped with the reason.
        `timer_for(method)` gives each run's `timer` (see `run`)."""
        names = list_methods() if methods == "all" else list(methods)
        for name in names:
            get_method(name)  # unknown names fail before any work
        runs, skipped = [], []
        first: dict | None = None
        for i, name in enumerate(names):
            reason = self.applicability(name, spec, forget)
            if reason:
                skipped.append({"method": name, "reason": reason})
                continue
            try:
                record = self.run(spec, forget, name, (params or {}).get(name), seed=seed, stop=stop,
                                  model_key=model_key, timer=timer_for(name) if timer_for else None,
                                  progress=scaled(progress, i / len(names), (i + 1) / len(names)))
            except MethodNotApplicable as exc:
                skipped.append({"method": name, "reason": str(exc)})
                continue
            first = first or record
            runs.append(record)
        if first is None:
            raise UserInputError("no selected method applies to this scenario: "
                                 + "; ".join(s["reason"] for s in skipped))
        # a stored retrain run is the oracle itself: it stands in for the reference row instead of repeating it
        retrain_run = next((r for r in runs if r["method"] == "retrain" and r["status"] == "ok"), None)
        reference = [
            {"method": "original", "status": "ok", "metrics": first["original"]},
            retrain_run or {"method": "retrain", "status": "ok", "metrics": first["retrain"]},
        ]
        return {"runs": reference + [r for r in runs if r is not retrain_run], "skipped": skipped,
                "experiment": first["experiment"], "forget": first["forget"]}


def oracle_recipe_text(meta: dict, recipe: TrainRecipe) -> str:
    """How an imported model's retrain oracle is trained, and where that recipe came from."""
    origin = ("the recipe stated at import as the checkpoint's own" if meta.get("oracle_recipe") == "stated"
              else "the lab's default recipe for its dataset and architecture, accepted at import")
    return f"{recipe_summary(recipe)} ({origin})"


def _as_record(record: RunRecord | dict) -> RunRecord:
    return record if isinstance(record, RunRecord) else RunRecord.from_dict(record)


def _undefined_as_none(metrics: dict) -> dict:
    """The metrics with every non-finite scalar replaced by None: undefined values are null in JSON, never NaN."""
    undefined = set(non_finite_keys(metrics))
    return {k: None if k in undefined else v for k, v in metrics.items()}



def experiment_from_args(dataset: str = "digits", arch: str = "cnn", seed: int = 0, epochs: int | None = None,
                         dataset_options: dict | None = None, **recipe_overrides: Any) -> ExperimentSpec:
    """Builds a spec from CLI/UI values, starting from the default recipe of (dataset, arch)."""
    recipe = default_recipe(dataset, arch)
    if epochs is not None:
        recipe = replace(recipe, epochs=validation.bounded_int(epochs, "epochs", low=1, high=1000))
    if recipe_overrides:
        recipe = replace(recipe, **recipe_overrides)
    return ExperimentSpec(dataset, arch, validation.seed_value(seed), recipe,
                          tuple(sorted((dataset_options or {}).items())))


__all__ = ["BaseModel", "ExperimentSpec", "Lab", "asdict", "experiment_from_args"]
