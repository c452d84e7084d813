"""The sweep spec: grids (lists and log ranges), validation in one line, content-addressed cells."""

from __future__ import annotations

import pytest

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import experiment_from_args
from unlearn_core.studies.sweep import LogRange, MethodGrid, SweepSpec, parse_grid_arg

EXPERIMENT = experiment_from_args("digits", "cnn", 0, epochs=2)
FORGET = ForgetSpec(classes=(3,))


def spec_with(*grids: MethodGrid, seeds: tuple[int, ...] = (0, 1, 2), **kw) -> SweepSpec:
    return SweepSpec(EXPERIMENT, (FORGET,), grids, seeds, **kw)


def test_log_range_is_exact_at_decades():
    assert LogRange(1e-4, 1e-1, 4).values() == (1e-4, 1e-3, 1e-2, 0.1)
    assert LogRange(0.5, 0.5, 1).values() == (0.5,)
    with pytest.raises(UserInputError):
        LogRange(0.0, 1.0, 3).values()


def test_cells_are_the_product_of_grid_and_seeds_with_stable_keys():
    spec = spec_with(MethodGrid.of("slug", search_steps=[5, 10, 20], forget_target=[0, 0.05]))
    cells = spec.cells()
    assert len(cells) == 3 * 2 * 3
    assert len({c.key for c in cells}) == len(cells)
    again = spec_with(MethodGrid.of("slug", forget_target=[0.0, 0.05], search_steps=["5", "10", "20"]))
    assert [c.key for c in again.cells()] == [c.key for c in cells]  # same content, same keys (types coerced)
    # a grid value equal to the default is the same cell as no grid at all
    default_grid = spec_with(MethodGrid.of("slug", search_steps=[10])).cells()[0].key
    assert default_grid == spec_with(MethodGrid("slug")).cells()[0].key
    assert cells[0].run_id == f"cell-{cells[0].key}"


def test_seed_base_decides_whether_seeds_retrain_the_base_model():
    varied = spec_with(MethodGrid("finetune")).cells()
    shared = spec_with(MethodGrid("finetune"), seed_base=False).cells()
    assert [c.experiment.seed for c in varied] == [0, 1, 2]
    assert [c.experiment.seed for c in shared] == [0, 0, 0]


def test_spec_round_trips_through_json_form():
    spec = spec_with(MethodGrid.of("finetune", lr=LogRange(1e-3, 1e-1, 3), epochs=[1, 2]), MethodGrid("slug"))
    back = SweepSpec.from_dict(spec.to_dict())
    assert back.key == spec.key
    assert [c.key for c in back.cells()] == [c.key for c in spec.cells()]
    hand_written = SweepSpec.from_dict({"experiment": {"dataset": "digits", "arch": "cnn", "epochs": 2},
                                        "forget": {"classes": [3]}, "seeds": [0, 1, 2],
                                        "methods": [{"method": "finetune", "grid": {
                                            "lr": {"log": [1e-3, 1e-1, 3]}, "epochs": [1, 2]}}, "slug"]})
    assert hand_written.key == spec.key


def test_probe_constructors():
    band = SweepSpec.retrain_band(EXPERIMENT, FORGET, 3)
    # one base model and oracle (seed 0), three retrains with training seeds 1..3, all evaluated at seed 0
    assert [(c.method, c.seed, c.experiment.seed, c.retrain_seed) for c in band.cells()] == [
        ("retrain", 0, 0, s) for s in (1, 2, 3)]
    assert all(c.is_band and "training seed" in c.label() for c in band.cells())
    assert len(SweepSpec.multi_seed(EXPERIMENT, FORGET, ["slug", "finetune"]).cells()) == 6
    # with a band per seed: each seed's base model also gets K retrains seeded from it
    banded = SweepSpec.multi_seed(EXPERIMENT, FORGET, ["finetune"], seeds=(0, 5), band=2).cells()
    assert [(c.seed, c.retrain_seed) for c in banded if c.is_band] == [(0, 1), (0, 2), (5, 6), (5, 7)]
    # a method on a variant base model (the update log) gets the band of that variant's oracle
    plain = experiment_from_args("digits", "cnn", 0, epochs=2, record_updates=False)
    variants = SweepSpec.multi_seed(plain, FORGET, ["finetune", "amnesiac"], seeds=(0,), band=1).cells()
    assert len({c.experiment.key for c in variants if c.is_band}) == 2
    back = SweepSpec.from_dict(band.to_dict())
    assert back.key == band.key and [c.key for c in back.cells()] == [c.key for c in band.cells()]
    # the optional fields stay out of the key when unset: sweeps stored before them keep their cells
    assert "band" not in SweepSpec.multi_seed(EXPERIMENT, FORGET, ["slug"]).to_dict()
    with pytest.raises(UserInputError, match="K between 1 and"):
        SweepSpec.retrain_band(EXPERIMENT, FORGET, 99).cells()


@pytest.mark.parametrize("grid, message", [
    (MethodGrid.of("slug", search_steps=[]), "is empty"),
    (MethodGrid.of("slug", nosuch=[1]), "has no parameter 'nosuch'"),
    (MethodGrid.of("slug", search_steps=[0, 5]), "search_steps must be >= 1"),
    (MethodGrid.of("slug", forget_target=[0.1, 1.5]), "forget_target must be <= 1"),
    (MethodGrid.of("slug", search_steps=LogRange(1, 10, 3)), "log ranges are for float parameters"),
    (MethodGrid.of("slug", search_steps=[5, 5]), "repeats a value"),
    (MethodGrid("no_such_method"), "no_such_method"),
])
def test_bad_grids_fail_in_one_line(grid, message):
    with pytest.raises(UserInputError, match=message):
        spec_with(grid).cells()


def test_bad_spec_fields():
    with pytest.raises(UserInputError, match="at least one seed"):
        spec_with(MethodGrid("slug"), seeds=()).cells()
    with pytest.raises(UserInputError, match="seeds repeat"):
        spec_with(MethodGrid("slug"), seeds=(1, 1)).cells()
    with pytest.raises(UserInputError, match="at least one method"):
        spec_with().cells()
    with pytest.raises(UserInputError, match="forget set"):
        SweepSpec(EXPERIMENT, (), (MethodGrid("slug"),)).cells()
    with pytest.raises(UserInputError, match="unknown sweep field"):
        SweepSpec.from_dict({"method": "slug"})


def test_cli_grid_syntax():
    assert parse_grid_arg("slug", "search_steps=5,10,20") == ("search_steps", ("5", "10", "20"))
    assert parse_grid_arg("finetune", "lr=log:1e-3:1e-1:3") == ("lr", LogRange(1e-3, 1e-1, 3))
    with pytest.raises(UserInputError, match="log:LOW:HIGH:NUM"):
        parse_grid_arg("finetune", "lr=log:1e-3")
    with pytest.raises(UserInputError, match="name=v1"):
        parse_grid_arg("finetune", "lr")
