"""The sweep benchmark times every (executor, workers) on the same cells, checks their metrics are identical and
says which sweep it could not run and why."""

from __future__ import annotations

import torch

from unlearn_core.data import ForgetSpec, torchvision_sets
from unlearn_core.experiment import experiment_from_args
from unlearn_core.progress import quiet
from unlearn_core.studies import sweep_bench
from unlearn_core.studies.sweep import MethodGrid, SweepSpec


def test_sweep_bench_times_each_executor_on_identical_cells_and_names_a_skipped_sweep(monkeypatch):
    tiny = SweepSpec(experiment_from_args("digits", "mlp", 0, epochs=1), (ForgetSpec(classes=(3,)),),
                     (MethodGrid.of("finetune", epochs=[1]),), seeds=(0, 1), seed_base=False, title="tiny")
    monkeypatch.setattr(torchvision_sets, "idx_folder", lambda *args: None)  # as on a machine without the files
    result = sweep_bench.run_sweep_bench(torch.device("cpu"), quiet, specs=(tiny, sweep_bench.HEAVY_SWEEP),
                                         modes=(("sequential", 1), ("local", 2)))
    timed, skipped = result["sweeps"]
    assert [(r["executor"], r["workers"]) for r in timed["rows"]] == [("sequential", 1), ("local", 2)]
    assert all(r["identical"] and r["differences"] == [] and r["ok"] == 2 and r["seconds"] > 0 for r in timed["rows"])
    assert timed["rows"][0]["ratio"] == 1.0
    assert "dataset-fashion-mnist" in skipped["skipped"]
    assert "## 2-cell sweep (tiny)" in result["markdown"]
    assert "Not run: needs the Fashion-MNIST files" in result["markdown"]
