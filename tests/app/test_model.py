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


def test_dataset_options_are_on_the_form_and_refused_inline(digits_base):
    at = open_page("pages/model.py")
    at.selectbox(key="model_dataset").set_value("shapes").run()
    at.text_input(key="model_dataset_option_shapes_label_noise").input("1.5").run()
    assert not at.exception
    assert any("Dataset options: shapes option label_noise" in e.value for e in at.error), [e.value for e in at.error]
    assert at.button(key="model_train").disabled
    at.text_input(key="model_dataset_option_shapes_label_noise").input("0.2").run()
    at.text_input(key="model_dataset_option_shapes_n_train").input("400").run()
    assert_clean(at)
    assert at.session_state["experiment"]["dataset_options"] == {"label_noise": 0.2, "n_train": 400}
    assert not at.button(key="model_train").disabled


def test_a_cli_model_with_options_is_listed_usable_and_warned_about(lab, digits_base):
    from unlearn_core.experiment import experiment_from_args

    # what `unlearn train --dataset shapes --arch mlp --epochs 1 --dataset-option n_train=200 ...` builds
    spec = experiment_from_args("shapes", "mlp", epochs=1, dataset_options={"n_train": "200", "n_test": "50"})
    base = lab.base_model(spec)
    at = open_page("pages/model.py")
    assert base.key in at.selectbox(key="model_stored").options[0] or base.key in " ".join(
        at.selectbox(key="model_stored").options)
    at.selectbox(key="model_stored").set_value(base.key).run()
    at.button(key="model_use_stored").click().run()
    assert not at.exception
    assert at.session_state["experiment"]["dataset_options"] == {"n_test": 50, "n_train": 200}
    assert at.button(key="model_train").label == "Use this trained model"
    warning = " ".join(w.value for w in at.warning)
    assert f"Test accuracy {base.meta['test_acc']:.0%} is low for shapes" in warning and "To fix it" in warning
