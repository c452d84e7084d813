"""U-LiRA shadow pairs as sweep cells, without training: which cells a spec makes, their keys, the JSON form and
bad input (the training side is in tests/sweeps/test_ulira_shadows.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import experiment_from_args
from unlearn_core.methods import get_method
from unlearn_core.studies.sweep import ORIGINAL, MethodGrid, SweepCell, SweepSpec, _digest

EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=1)
FORGET = ForgetSpec(classes=(3,))


def test_shadow_spec_has_one_cell_per_pair_and_not_the_run_it_attacks():
    params = get_method("finetune").Config.from_values({"epochs": 1}).to_dict()
    spec = SweepSpec.ulira_shadows(EXPERIMENT, FORGET, "finetune", params, pairs=3, seed=5, shadow_epochs=1)
    cells = spec.cells()
    assert [c.shadow_pair for c in cells] == [0, 1, 2]
    assert all(c.is_shadow and c.method == "finetune" and c.seed == 5 and c.shadow_epochs == 1 for c in cells)
    assert dict(cells[0].config) == params
    assert len({c.run_id for c in cells}) == 3
    # a larger K reuses the smaller K's pairs; other shadow epochs are other pairs
    bigger = SweepSpec.ulira_shadows(EXPERIMENT, FORGET, "finetune", params, pairs=5, seed=5, shadow_epochs=1)
    assert [c.key for c in bigger.cells()][:3] == [c.key for c in cells]
    longer = SweepSpec.ulira_shadows(EXPERIMENT, FORGET, "finetune", params, pairs=3, seed=5, shadow_epochs=2)
    assert not {c.key for c in longer.cells()} & {c.key for c in cells}


def test_shadows_of_the_original_model_and_of_a_method_needing_artifacts():
    original = SweepSpec.ulira_shadows(EXPERIMENT, FORGET, ORIGINAL, None, pairs=2).cells()
    assert [(c.method, c.config, c.shadow_pair) for c in original] == [(ORIGINAL, (), 0), (ORIGINAL, (), 1)]
    # a method that needs an update log: its shadows use the base model variant it runs on, as its runs record
    plain = EXPERIMENT.resolved()
    plain = replace(plain, recipe=replace(plain.recipe, record_updates=False))
    amnesiac = SweepSpec.ulira_shadows(plain, FORGET, "amnesiac", None, pairs=2).cells()
    variant = plain.with_artifacts(get_method("amnesiac").info.needs_artifacts)
    assert {c.experiment.key for c in amnesiac} == {variant.key} != {plain.key}


def test_a_grid_sweep_with_ulira_gives_each_method_cell_its_pairs():
    spec = SweepSpec(EXPERIMENT, (FORGET,), (MethodGrid.of("finetune", epochs=[1, 2]),), seeds=(0, 1), ulira=2)
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2 and all(c.is_shadow for c in cells)
    assert {(dict(c.params)["epochs"], c.seed) for c in cells} == {(1, 0), (1, 1), (2, 0), (2, 1)}
    assert cells[0].label() == "U-LiRA shadow pair 1 (finetune) seed 0"


def test_keys_of_cells_without_shadow_fields_did_not_change():
    cell = SweepSpec(EXPERIMENT, (FORGET,), (MethodGrid("finetune"),)).cells()[0]
    assert cell.shadow_pair is None
    # the key as it was computed before the shadow fields existed
    assert cell.key == _digest({"experiment": cell.experiment.to_dict(), "forget": cell.forget.to_dict(),
                                "method": cell.method, "config": dict(cell.config), "seed": cell.seed})
    plain = SweepSpec(EXPERIMENT, (FORGET,), (MethodGrid("finetune"),))
    assert "ulira" not in plain.to_dict() and "shadow_epochs" not in plain.to_dict()


def test_shadow_spec_round_trips_through_json_form():
    spec = SweepSpec.ulira_shadows(EXPERIMENT, FORGET, "finetune", {"epochs": 1}, pairs=3, seed=2, shadow_epochs=1)
    back = SweepSpec.from_dict(spec.to_dict())
    assert back.key == spec.key and [c.key for c in back.cells()] == [c.key for c in spec.cells()]
    assert isinstance(back.cells()[0], SweepCell)


@pytest.mark.parametrize("fields, message", [
    ({"ulira": 1}, "shadow_pairs must be in [2, 256]"),
    ({"ulira": 3, "shadow_epochs": 0}, "shadow_epochs must be in [1, 1000]"),
    ({"shadow_epochs": 2}, "shadow_epochs is for U-LiRA shadows"),
    ({"ulira": "8"}, "ulira is the number of U-LiRA shadow pairs"),
])
def test_bad_shadow_fields_fail_in_one_line(fields, message):
    data = {"experiment": {"dataset": "digits", "epochs": 1}, "forget": {"classes": [3]}, **fields}
    with pytest.raises(UserInputError) as info:
        SweepSpec.from_dict(data).cells()
    assert message in str(info.value) and "\n" not in str(info.value)
