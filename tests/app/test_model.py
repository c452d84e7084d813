"""Model page: dataset/architecture/recipe form, training button, import, model card."""

from __future__ import annotations

from apphelpers import assert_clean, open_page, texts


def test_model_page_shows_form_and_card(digits_base):
    at = open_page("pages/model.py")
    assert_clean(at)
    assert at.selectbox(key="model_dataset").value == "digits"
    assert at.selectbox(key="model_arch").value == "cnn"
    assert at.button(key="model_train").label == "Use this trained model"
    assert "Model card" in texts(at)
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert len(at.get("plotly_chart")) >= 3


def test_changing_the_recipe_makes_a_new_untrained_experiment(digits_base):
    at = open_page("pages/model.py")
    at.number_input(key="model_seed").set_value(7).run()
    assert_clean(at)
    assert at.button(key="model_train").label == "Train in the background"
    assert "not trained yet" in texts(at)
