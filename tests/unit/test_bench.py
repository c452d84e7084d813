"""`unlearn bench`: the smoke scenario end to end through the CLI, the measuring helpers, the scenario forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unlearn_core.bench import SCENARIOS, UPDATE_LOG_METHODS, forward_backward_seconds, measure
from unlearn_core.cli import main
from unlearn_core.methods import list_methods
from unlearn_core.models.architectures import build_model


def test_smoke_bench_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    assert main(["bench", "--scenario", "smoke", "--json", "--out-dir", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON document
    assert torch.get_num_threads() == threads, "the bench restores the caller's thread count"
    assert result["scenario"] == "smoke" and result["device"].startswith("cpu") and result["threads"] == 1
    (case,) = result["cases"]
    assert {t["model"] for t in case["training"]} == {"base", "retrain oracle"}
    retrain_s = case["training"][1]["wall_s"]
    rows = {r["method"]: r for r in case["rows"]}
    assert set(rows) == {"slug", "mnemonic", "ssd", "gradient_ascent"}
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row.get("error"))
        assert 0 < row["wall_s"] == min(row["walls"]) and row["cpu_s"] > 0 and row["peak_mb"] >= 0
        assert row["x_floor"] == pytest.approx(row["wall_s"] / case["floor_s"])
        # the oracle is trained inside the timed block, so its recorded training time can only be shorter
        assert row["x_retrain"] >= row["wall_s"] / retrain_s
        assert 0 <= row["forget_acc"] <= 1 and 0 <= row["test_acc"] <= 1
    assert rows["slug"]["forget_acc"] <= 0.05, "the timed method really forgot (slug's default target)"
    grads = result["persample"]["per_sample_grads"]
    assert grads["samples"] == 16 and grads["max_abs_diff"] < 1e-4 and grads["speedup"] > 0
    written = json.loads((tmp_path / "smoke.json").read_text())
    assert written["cases"][0]["rows"][0]["method"] == "slug"
    markdown = (tmp_path / "smoke.md").read_text()
    assert markdown == result["markdown"]
    assert "| slug | ok |" in markdown and "vmap against a plain loop" in markdown


def test_unknown_scenario_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--scenario", "nope"]) == 2
    assert "digits-cnn" in capsys.readouterr().err


def test_measure_sees_a_large_allocation_and_time() -> None:
    with measure(torch.device("cpu")) as m:
        block = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
        block.sum()
    del block
    assert m.wall > 0 and m.cpu >= 0
    assert m.peak_mb >= 48, m.peak_mb


def test_forward_backward_floor_leaves_the_model_untouched() -> None:
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 10, (40,))
    seconds = forward_backward_seconds(model, x, y, torch.device("cpu"), repeats=2, batch_size=16)
    assert seconds > 0
    assert all(p.grad is None for p in model.parameters())


def test_shapes_scenario_forms() -> None:
    gpu = SCENARIOS["shapes50k-resnet18"](torch.device("cuda"))  # built, not run: no GPU is needed
    options = dict(gpu.spec.dataset_options)
    assert options["n_train"] == 50_000 and gpu.spec.arch == "resnet18"
    (case,) = gpu.cases
    assert set(case.methods) | set(UPDATE_LOG_METHODS) == set(list_methods())
    assert set(case.left_out) == set(UPDATE_LOG_METHODS)
    cpu = SCENARIOS["shapes50k-resnet18"](torch.device("cpu"))
    assert "REDUCED CPU FORM" in cpu.description
    assert dict(cpu.spec.dataset_options)["n_train"] < 50_000
    (cpu_case,) = cpu.cases
    assert set(cpu_case.methods) | set(cpu_case.left_out) == set(list_methods())


def test_a_long_bench_writes_its_finished_cases_before_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """A scenario of several cases writes its tables after each finished case, marked partial, so a run stopped
    later keeps what it measured; the final write has no partial mark."""
    from unlearn_core import bench
    from unlearn_core.data import ForgetSpec

    spec = bench.experiment_from_args("digits", "cnn", 0, epochs=1)
    two = bench.Scenario("two-cases", "test: two cases", spec,
                         (bench.Case("class 3", ForgetSpec(classes=(3,)), ("mnemonic",)),
                          bench.Case("class 5", ForgetSpec(classes=(5,)), ("mnemonic",))), repeats=1)
    monkeypatch.setitem(bench.SCENARIOS, "two-cases", lambda device: two)
    monkeypatch.setitem(bench.PREFERRED_DEVICE, "two-cases", "cpu")
    written: list[str] = []
    real_write = bench._write_tables

    def spy(out_dir: Path, name: str, result: dict) -> None:
        written.append(result["markdown"])
        real_write(out_dir, name, result)

    monkeypatch.setattr(bench, "_write_tables", spy)
    bench.run_bench("two-cases", out_dir=tmp_path)
    assert len(written) == 2
    assert "**Partial table**" in written[0] and "not (yet) run: class 5" in written[0]
    assert "## class 3" in written[0] and "## class 5" not in written[0]
    assert "Partial table" not in written[1] and "## class 5" in written[1]
    assert "Partial table" not in (tmp_path / "two-cases.md").read_text()
