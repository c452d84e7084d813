"""Model page: the architecture picker over the whole registry (parameters, expected cost), and the card of an
imported torchvision model (input adaptation, classes with counts, the oracle's recipe and its warning)."""

from __future__ import annotations

import torch
import torchvision
from apphelpers import assert_clean, open_page, texts

from pages._ui import state as S


def test_picker_lists_torchvision_models_with_sizes_and_the_import_card(lab):
    from unlearn_core.experiment import ExperimentSpec

    torch.manual_seed(0)
    imported = lab.register_imported(ExperimentSpec("digits", "mobilenet_v3_small"),
                                     torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), "tv.pt")
    at = open_page("pages/model.py")
    picker = at.selectbox(key=S.W_ARCH)
    labels = {option.split(" — ")[0]: option for option in picker.options}  # "name — title · size"
    assert {"cnn", "resnet18", "torchvision:resnet18", "mobilenet_v3_small", "vit_b_16"} <= set(labels)
    assert "1.53M parameters" in labels["mobilenet_v3_small"]  # MobileNetV3-Small with a 10-class head
    picker.set_value("mobilenet_v3_small")
    at.session_state[S.IMPORTED_KEY] = imported.key
    at.run()
    assert_clean(at)
    page = texts(at)
    assert "1,528,106 parameters" in page and "GFLOP per image per training step" in page
    assert "grey images are repeated to 3 channels" in page and "8x8 images are resized bilinearly" in page
    assert "skews every gap to retrain" in " ".join(w.value for w in at.warning)
    assert "0 (" in page and "classes (training + test images)" in page
    assert at.radio(key=S.W_IMPORT_RECIPE).value.startswith("accept")
