"""Progress is honest per stage: a run whose models are cached starts at 0 with its own work, and every message
names the stage that is running (the oracle's epochs are never shown under a method's name)."""

from __future__ import annotations

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.progress import staged


def test_stages_share_the_bar_by_the_work_they_have_and_name_themselves():
    seen: list[tuple[float, str]] = []
    stage = staged(lambda f, m: seen.append((round(f, 3), m)),
                   [("original model", 0.0), ("retrain oracle", 1.0), ("semu", 1.0)], end=0.9)
    stage["original model"](1.0, "loaded")
    stage["retrain oracle"](0.0, "training the retrain oracle")
    stage["retrain oracle"](0.5, "epoch 5/10")
    stage["semu"](0.0, "")
    stage["semu"](1.0, "rank search")
    assert seen == [(0.0, "original model: loaded"), (0.0, "training the retrain oracle"),
                    (0.225, "retrain oracle: epoch 5/10"), (0.45, "semu"), (0.9, "semu: rank search")]


def test_a_run_on_cached_models_starts_at_zero_with_the_method(lab, digits_base):
    forget = ForgetSpec(classes=(3,))
    lab.retrain_oracle(digits_base, forget)  # cached, as after the demo
    seen: list[tuple[float, str]] = []
    lab.run(ExperimentSpec(), forget, "finetune", {"epochs": 2}, store_run=False,
            progress=lambda f, m: seen.append((f, m)))
    method_reports = [(f, m) for f, m in seen if m.startswith("finetune")]
    assert method_reports and method_reports[0][0] < 0.5, seen  # not 60 % before the method did anything
    assert all(m.startswith(("finetune", "evaluating")) or m in ("ok",) for _, m in seen), seen
