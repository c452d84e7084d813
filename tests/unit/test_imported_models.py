"""An imported model's retrain oracle recipe (stated or accepted, shown on the card with its warning), and the
training artifacts it lacks: refused with the way to get them where one exists."""

from __future__ import annotations

import pytest
import torch

from unlearn_core.card import card_facts
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import MethodNotApplicable
from unlearn_core.models.training import TrainRecipe


def test_stated_recipe_codes_fine_tune_and_refusals(lab, digits_base):
    state = {k: v.clone() for k, v in digits_base.model.state_dict().items()}
    state["f2.bias"] += 1e-3  # another user's weights, not the session's digits model
    spec = ExperimentSpec("digits", "cnn", 0, TrainRecipe(epochs=3, batch_size=128))
    imported = lab.register_imported(spec, state, "user.safetensors", recipe_stated=True)
    accepted = lab.register_imported(ExperimentSpec("digits", "cnn"), state, "user.safetensors")
    assert imported.key != accepted.key, "another oracle recipe is another experiment"
    facts = card_facts(imported.meta, lab.dataset(imported.spec))
    assert "3 epochs" in facts["oracle"] and "stated at import" in facts["oracle"]
    assert "skews every gap to retrain" in facts["oracle_warning"]
    assert "state the checkpoint's recipe" in card_facts(accepted.meta, lab.dataset(accepted.spec))["oracle_warning"]
    assert [c["name"] for c in facts["classes"]] == [str(c) for c in range(10)]
    assert sum(c["train"] + c["test"] for c in facts["classes"]) == 1797
    forget = ForgetSpec(classes=(3,))
    lacks = r"imported checkpoint .* lacks: it can get them by a short fine-tune"
    with pytest.raises(MethodNotApplicable, match=lacks):
        lab.run(spec, forget, "mnemonic", model_key=imported.key)
    with pytest.raises(MethodNotApplicable, match="cannot be recovered afterwards"):
        lab.run(spec, forget, "amnesiac", model_key=imported.key)
    coded = lab.add_mnemonic_codes(imported.key, 1)
    assert coded.artifacts.codes is not None and "our extension" in coded.meta["source"]
    assert coded.spec.recipe.epochs == 3 and coded.spec.recipe.mnemonic_t_mix > 0  # the oracle trains with codes
    record = lab.run(spec, forget, "mnemonic", model_key=coded.key)
    assert record["status"] == "ok", record["error"]
    assert any("3 epochs" in note and "skews every gap" in note for note in record["notes"])
    assert not torch.equal(coded.model.f2.weight, imported.model.f2.weight)
