"""Scenario labels say what differs: dataset options, recipe fields off the default, the seed, hand-picked images."""

from __future__ import annotations

from dataclasses import replace

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.labels import scenario_label
from unlearn_core.models.training import default_recipe


def _experiment(**kw) -> dict:
    return ExperimentSpec(**kw).to_dict()


def test_four_fashion_mnist_subsets_and_seeds_get_four_labels():
    forget = ForgetSpec(classes=(7,))
    experiments = [_experiment(dataset="fashion_mnist", arch="cnn_flat", dataset_options=(("max_train", n),))
                   for n in (2000, 5000)]
    experiments += [_experiment(dataset="fashion_mnist", arch="cnn_flat", seed=s) for s in (0, 1)]
    labels = [scenario_label(e, forget) for e in experiments]
    assert len(set(labels)) == 4, labels
    assert "max_train=2000" in labels[0] and "seed 0" in labels[2] and "seed 1" in labels[3]


def test_a_recipe_variant_names_the_fields_that_differ():
    recipe = replace(default_recipe("shapes", "cnn"), mnemonic_t_mix=0.1, epochs=3)
    plain = scenario_label(_experiment(dataset="shapes"), ForgetSpec(classes=(1,)))
    variant = scenario_label(_experiment(dataset="shapes", recipe=recipe), ForgetSpec(classes=(1,)))
    assert plain == "shapes · cnn · seed 0 · forget class 1"
    assert variant == "shapes · cnn · epochs=3 · mnemonic_t_mix=0.1 · seed 0 · forget class 1"


def test_two_hand_picked_sets_of_one_size_read_differently():
    experiment = _experiment()
    a = scenario_label(experiment, ForgetSpec(indices=(4, 9, 31, 50)))
    b = scenario_label(experiment, ForgetSpec(indices=(5, 9, 31, 50)))
    assert a.endswith("forget 4 chosen images #4, #9, #31 +1") and a != b
