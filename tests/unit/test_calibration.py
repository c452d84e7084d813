"""The calibration rule (a pure function) and one tiny search on digits."""

from __future__ import annotations

import pytest

from unlearn_core import UserInputError
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import experiment_from_args
from unlearn_core.studies.calibration import Search, Trial, choose_setting, rule_text, search


def test_the_closest_forget_accuracy_among_values_that_keep_the_retain_accuracy_wins():
    trials = [Trial(1e-3, 0.60, 0.00), Trial(3e-4, 0.90, 0.05), Trial(1e-4, 0.91, 0.40), Trial(3e-5, 0.92, 0.90)]
    choice = choose_setting(trials, original_retain_acc=0.915, oracle_forget_acc=0.0)
    assert choice.value == 3e-4  # 1e-3 forgets best but loses 31.5 points of retain accuracy
    assert "0.050" in choice.reason and "3 qualifying values" in choice.reason


def test_random_forgetting_aims_at_the_oracle_not_at_zero():
    trials = [Trial(30.0, 0.91, 0.99), Trial(5.0, 0.905, 0.87), Trial(1.0, 0.90, 0.70)]
    assert choose_setting(trials, 0.915, oracle_forget_acc=0.88).value == 5.0


def test_ties_go_to_the_value_tried_first_and_failed_runs_never_qualify():
    trials = [Trial(5e-3, None, None, error="loss became -3e+07"), Trial(1e-3, 0.90, 0.10), Trial(3e-4, 0.90, 0.10)]
    assert choose_setting(trials, 0.91, 0.0).value == 1e-3


def test_no_value_qualifies_says_why():
    trials = [Trial(5e-3, None, None, error="diverged"), Trial(1e-3, 0.50, 0.0)]
    choice = choose_setting(trials, 0.91, 0.0)
    assert choice.value is None
    assert "1 of 2 runs failed" in choice.reason and "0.500" in choice.reason


def test_bad_references_are_refused():
    with pytest.raises(UserInputError):
        choose_setting([], 0.9, 0.0)
    with pytest.raises(UserInputError):
        choose_setting([Trial(1.0, 0.9, 0.0)], float("nan"), 0.0)
    assert "2 points" in rule_text()


def test_search_on_a_held_out_seed_records_every_value_and_round_trips(lab):
    experiment = experiment_from_args("digits", "cnn", 0, epochs=2)
    found = search(lab, experiment, ForgetSpec(classes=(3,)), "gradient_ascent", "lr", (5e-3, 1e-3, 1e-4), seed=5)
    assert found.seed == 5 and found.scenario == "class" and found.faithful == 5e-3
    assert [t.value for t in found.trials] == [5e-3, 1e-3, 1e-4]
    assert found.oracle_forget_acc == 0.0  # the retrain never saw class 3
    assert all(t.error or 0.0 <= t.retain_acc <= 1.0 for t in found.trials)
    assert found.choice.value in (None, 5e-3, 1e-3, 1e-4)
    assert Search.from_dict(found.to_dict()) == found
    with pytest.raises(UserInputError, match="no parameter"):
        search(lab, experiment, ForgetSpec(classes=(3,)), "gradient_ascent", "alpha", (1.0,), seed=5)
