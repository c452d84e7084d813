"""The `unlearn` command: JSON contract, acceptance figures of the foundation, and bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn_core.metrics import list_metrics


def _unlearn(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "UNLEARN_HOME": str(home), "UNLEARN_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "unlearn_core.cli", *args], capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli_home")


def test_train_reaches_the_accuracy_target(home: Path):
    proc = _unlearn(home, "train", "--dataset", "digits", "--arch", "cnn", "--json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["test_acc"] >= 0.97 and payload["num_params"] == 53002


def test_retrain_forgets_class_3_and_keeps_the_rest(home: Path):
    proc = _unlearn(home, "run", "--dataset", "digits", "--arch", "cnn", "--method", "retrain",
                    "--forget-classes", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert {"run_id", "method", "params", "device", "seconds", "metrics", "retrain", "original"} <= set(record)
    assert record["metrics"]["forget_acc"] <= 0.01
    assert record["metrics"]["test_acc_retain_classes"] >= 0.97
    # `run` trains the K=2 retrain band first (the default), so the verdict is calibrated: the oracle is forgotten
    verdict = record["metrics"]["verdict"]
    assert verdict["band"]["k"] == 2 and verdict["label"] == "forgotten", verdict["text"]
    assert all(e["within"] is not False for e in verdict["evidence"])
    assert record["original"]["verdict"]["label"] == "not forgotten"
    assert "retrain band" in proc.stderr


def test_gradient_ascent_random_prints_every_metric_finite_and_is_reproducible(home: Path):
    args = ("run", "--dataset", "digits", "--arch", "cnn", "--method", "gradient_ascent", "--forget-random", "0.1",
            "--no-band", "--json")
    first, second = _unlearn(home, *args), _unlearn(home, *args)
    assert first.returncode == 0, first.stderr
    a, b = json.loads(first.stdout)["metrics"], json.loads(second.stdout)["metrics"]
    for key in list_metrics():
        values = a[key] if isinstance(a[key], list) else [a[key]]
        assert all(math.isfinite(v) for v in values), key
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_methods_lists_the_registry_as_json(home: Path):
    proc = _unlearn(home, "methods", "--json")
    names = [m["name"] for m in json.loads(proc.stdout)["methods"]]
    assert {"retrain", "finetune", "gradient_ascent"} <= set(names)


@pytest.mark.parametrize("args, reason", [
    (("--method", "no_such_method", "--forget-classes", "3"), "unknown method"),
    (("--method", "retrain", "--forget-classes", "11"), "out of range"),
    (("--method", "retrain", "--forget-random", "1.5"), "strictly between 0 and 1"),
    (("--method", "retrain"), "forget set is empty"),
    (("--method", "finetune", "--forget-classes", "3", "--set", "lr=nan"), "finite"),
    (("--method", "retrain", "--forget-classes", "3", "--dataset", "nope"), "unknown dataset"),
    (("--method", "retrain", "--forget-classes", "3", "--arch", "vgg"), "unknown architecture"),
])
def test_bad_input_exits_2_with_one_line(home: Path, args, reason):
    proc = _unlearn(home, "run", *args, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0]


def test_an_imported_checkpoint_can_be_unlearned(home: Path, tmp_path: Path):
    import torch
    from safetensors.torch import save_file

    from unlearn_core.data import load_dataset
    from unlearn_core.models.architectures import build_model
    from unlearn_core.models.training import TrainRecipe, train_model

    digits = load_dataset("digits")
    torch.manual_seed(5)
    model = build_model("cnn", digits.input_shape, 10)
    train_model(model, digits.x_train, digits.y_train, TrainRecipe(epochs=5), seed=5, device=torch.device("cpu"))
    save_file(model.state_dict(), tmp_path / "user.safetensors")
    proc = _unlearn(home, "import", "--checkpoint", str(tmp_path / "user.safetensors"), "--dataset", "digits",
                    "--arch", "cnn", "--json")
    assert proc.returncode == 0, proc.stderr
    key = json.loads(proc.stdout)["model_key"]
    proc = _unlearn(home, "run", "--model", key, "--method", "slug", "--forget-classes", "3", "--no-band", "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["experiment_key"] == key and record["metrics"]["forget_acc"] <= 0.05
    assert record["original"]["forget_acc"] > 0.9
    refused = _unlearn(home, "run", "--model", key, "--method", "mnemonic", "--forget-classes", "3")
    assert refused.returncode == 2 and "imported checkpoint" in refused.stderr
