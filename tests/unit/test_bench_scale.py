"""The Fashion-MNIST bench scenarios are defined at full size (or a stated subset) and refuse what they cannot do;
their tables are generated from measured results (none of these numbers is a timed unit test)."""

from __future__ import annotations

import pytest
import torch

from unlearn_core import UserInputError
from unlearn_core.bench import SIZED_SCENARIOS, UPDATE_LOG_METHODS, run_bench
from unlearn_core.bench_scale import one_shot_methods, scaling_markdown
from unlearn_core.cli import main
from unlearn_core.presets import FMNIST_PICKED_IMAGES

CPU = torch.device("cpu")


def test_fmnist_cnn_is_the_full_data_by_definition() -> None:
    sc = SIZED_SCENARIOS["fmnist-cnn"](CPU)
    spec = sc.spec.resolved()
    assert (spec.dataset, spec.arch, dict(spec.dataset_options)) == ("fashion_mnist", "cnn_flat", {})
    assert "full official data" in sc.description and "REDUCED" not in sc.description
    assert [c.label for c in sc.cases] == ["class 7 (sneaker)", "random 10%", "50 hand-picked images"]
    assert sc.cases[2].forget.indices == FMNIST_PICKED_IMAGES
    assert set(sc.cases[0].left_out) == set(UPDATE_LOG_METHODS)
    assert not set(sc.cases[0].methods) & set(UPDATE_LOG_METHODS)


def test_a_reduced_run_says_so_and_picks_images_inside_the_subset() -> None:
    sc = SIZED_SCENARIOS["fmnist-cnn"](CPU, 3000, 1000)
    assert "REDUCED to 3,000 training and 1,000 test images" in sc.description
    assert dict(sc.spec.resolved().dataset_options) == {"max_train": 3000, "max_test": 1000}
    picked = sc.cases[2].forget.indices
    assert len(set(picked)) == 50 and max(picked) < 3000


def test_gpu_scenario_and_sizes_refuse_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(UserInputError, match="defined for a CUDA GPU"):
            run_bench("fmnist-resnet18", device="cpu")
    assert main(["bench", "--scenario", "smoke", "--max-train", "100"]) == 2
    assert "--max-train/--max-test apply to fmnist-cnn" in capsys.readouterr().err
    assert main(["bench", "--scenario", "fmnist-scaling", "--max-train", "100"]) == 2
    assert "below the smallest scaling size 5,000" in capsys.readouterr().err


def test_scaling_table_states_growth_per_method() -> None:
    methods = one_shot_methods()
    assert {"slug", "ssd", "mnemonic", "partial_amnesiac"} <= set(methods)
    rows = [{"train_size": n, "fwd_bwd_forget_s": 0.1, "base_1_epoch_s": n / 1000, "update_log_mb": n / 100,
             "methods": {m: {"wall_s": 1.0 if m != "ssd" else n / 1000} for m in methods}} for n in (5000, 60000)]
    rows[0]["methods"]["slug"] = {"error": "MethodNotApplicable: refused"}
    text = scaling_markdown({"rows": rows, "methods": methods, "forget_size": 50, "arch": "cnn_flat",
                             "created": "now", "device": "cpu", "cpu_count": 2, "versions": {"torch": "x"},
                             "load_before": [1, 1, 1], "load_after": [1, 1, 1]})
    assert "| ssd | 5.00 | 60.00 | 12.0x |" in text and "| mnemonic | 1.00 | 1.00 | 1.0x |" in text
    assert "| slug | – | 1.00 | – |" in text and "- slug at 5,000: MethodNotApplicable: refused" in text


def test_scaling_table_divides_slug_by_its_searched_front() -> None:
    """SLUG's time follows the Pareto front it searches (a property of the trained model): the table shows the
    front's size per training-set size and the time per searched layer."""
    rows = [{"train_size": n, "fwd_bwd_forget_s": 0.1, "base_1_epoch_s": 1.0, "update_log_mb": 1.0,
             "methods": {"slug": {"wall_s": 4.0 * front, "front_layers": front}}}
            for n, front in ((20000, 1), (60000, 3))]
    text = scaling_markdown({"rows": rows, "methods": ["slug"], "forget_size": 50, "arch": "cnn_flat",
                             "created": "now", "device": "cpu", "cpu_count": 2, "versions": {"torch": "x"},
                             "load_before": [1, 1, 1], "load_after": [1, 1, 1]})
    assert "| slug | 4.00 | 12.00 | 3.0x |" in text
    assert "| slug: Pareto-front layers searched | 1 | 3 | 3.0x |" in text
    assert "| slug: per searched layer | 4.00 | 4.00 | 1.0x |" in text
