"""Torch threads are chosen (device.choose_threads), applied by the Lab, recorded in runs and overridable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from unlearn_core import UserInputError, device
from unlearn_core.bench_threads import contention_markdown
from unlearn_core.cli import main
from unlearn_core.data import ForgetSpec
from unlearn_core.device import SMALL_MODEL_PARAMS, choose_threads, share_machine, workers_sharing_machine
from unlearn_core.experiment import ExperimentSpec, Lab


@pytest.fixture(autouse=True)
def _no_thread_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNLEARN_THREADS", raising=False)
    monkeypatch.delenv("UNLEARN_WORKERS", raising=False)


def test_small_models_get_one_thread() -> None:
    choice = choose_threads(53_002)
    assert (choice.threads, choice.source) == (1, "auto") and "small model" in choice.reason
    assert choose_threads(None).threads == 1


def test_large_models_take_their_share_of_the_free_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "usable_cores", lambda: 8)
    monkeypatch.setattr(device, "busy_cores", lambda: 0.0)
    big = SMALL_MODEL_PARAMS * 5
    assert choose_threads(big).threads == 8
    assert choose_threads(big, workers=3).threads == 2, "never more threads than cores across the workers"
    assert choose_threads(big, workers=16).threads == 1
    monkeypatch.setattr(device, "busy_cores", lambda: 6.2)
    assert choose_threads(big).threads == 2, "cores kept busy by other processes are not free"


def test_overrides_win_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNLEARN_THREADS", "3")
    assert (choose_threads(10).threads, choose_threads(10).source) == (3, "UNLEARN_THREADS")
    assert (choose_threads(10, requested=2).threads, choose_threads(10, requested=2).source) == (2, "requested")
    monkeypatch.setenv("UNLEARN_THREADS", "many")
    with pytest.raises(UserInputError, match="UNLEARN_THREADS must be a positive integer"):
        choose_threads(10)
    with pytest.raises(UserInputError, match="between 1 and 1024"):
        choose_threads(10, requested=0)


def test_executors_declare_the_workers_sharing_the_machine() -> None:
    assert workers_sharing_machine() == 1
    with share_machine(4):
        assert os.environ["UNLEARN_WORKERS"] == "4" and workers_sharing_machine() == 4
        assert choose_threads(10).workers == 4
    assert "UNLEARN_WORKERS" not in os.environ
    with pytest.raises(UserInputError):
        with share_machine(0):
            pass


def test_the_lab_applies_and_records_the_choice(tmp_path: Path) -> None:
    from unlearn_core.store import Store

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        lab = Lab(Store(tmp_path / "ws"), device="cpu")
        spec = ExperimentSpec("digits", "mlp", 0).resolved()
        from dataclasses import replace

        spec = replace(spec, recipe=replace(spec.recipe, epochs=1, mnemonic_t_mix=0.0, record_updates=False))
        record = lab.run(spec, ForgetSpec(classes=(3,)), "gradient_ascent", {"epochs": 1})
        assert record["status"] == "ok", record["error"]
        assert record["threads"]["threads"] == 1 and record["threads"]["source"] == "auto"
        assert torch.get_num_threads() == 1 and record["device"] == "cpu (1 threads)"
        assert lab.store.get_run(record["run_id"])["threads"]["threads"] == 1
        assert lab.base_model(spec).meta["threads"]["threads"] == 1
        forced = Lab(Store(tmp_path / "ws"), device="cpu", threads=2)
        again = forced.run(spec, ForgetSpec(classes=(3,)), "gradient_ascent", {"epochs": 1})
        assert again["threads"] == {**again["threads"], "threads": 2, "source": "requested"}
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UserInputError):
        Lab(Store(tmp_path / "ws"), device="cpu", threads=-1)


def test_bad_threads_flag_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:  # refused by the argument parser, before any work
        main(["train", "--threads", "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--threads" in err and "[1, 1024]" in err and len(err.strip().splitlines()) == 1


def test_contention_table_reports_the_ratios() -> None:
    rows = [{"busy": b, "setting": s, "threads": t, "wall_s": w, "cpu_s": w}
            for b, s, t, w in [(0, "default", 2, 2.0), (0, "chosen", 1, 1.0), (1, "default", 2, 40.0),
                               (1, "chosen", 1, 1.5)]]
    result = {"description": "d", "created": "now", "device": "cpu", "cpu_count": 2, "versions": {"torch": "x"},
              "default_threads": 2, "chosen": {"threads": 1, "reason": "small"}, "load_before": [0, 0, 0],
              "load_after": [1, 1, 1], "rows": rows, "max_abs_weight_diff": 0.0,
              "ratios": {"default_over_chosen_idle": 2.0, "default_over_chosen_busy": 40 / 1.5,
                         "busy_over_idle_default": 20.0, "busy_over_idle_chosen": 1.5}}
    text = contention_markdown(result)
    assert "| default / chosen, one busy process | **26.67x** |" in text
    assert json.dumps(result)  # the result is JSON as written by `unlearn bench --out-dir`
