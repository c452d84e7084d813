"""Architectures by name: every listed one builds and trains a step; torchvision checkpoints round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

from unlearn_core import UserInputError
from unlearn_core.cli import main
from unlearn_core.experiment import ExperimentSpec, Lab
from unlearn_core.models.architectures import (
    arch_info,
    build_model,
    count_parameters,
    list_architectures,
    parameter_kinds,
    penultimate_features,
    resolve_arch,
)
from unlearn_core.models.checkpoint import read_state_dict_file
from unlearn_core.models.training import TrainRecipe, update_log_refusal

REQUIRED = {"torchvision:resnet18", "resnet34", "resnet50", "mobilenet_v3_small", "efficientnet_b0",
            "convnext_tiny", "vit_b_16", "vit_tiny"}


def test_the_required_architectures_are_listed_beside_the_built_ins():
    names = set(list_architectures())
    assert REQUIRED | {"mlp", "cnn", "resnet18"} <= names
    assert arch_info("resnet18").source == "built-in" and "torchvision:resnet18" in arch_info("resnet18").description
    assert arch_info("torchvision:resnet18").source == "torchvision"


@pytest.mark.parametrize("arch", list_architectures())
def test_every_architecture_builds_on_grey_8px_images_and_trains_one_step(arch):
    torch.manual_seed(0)
    model = build_model(arch, (1, 8, 8), 4).train()
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 3])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(p.numel() for p in model.parameters()) == count_parameters(arch, (1, 8, 8), 4)
    kinds = parameter_kinds(model)
    assert set(kinds) == {n for n, _ in model.named_parameters()} and "head" in kinds.values()
    features = penultimate_features(model.eval(), x)
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert features.flatten(1).shape == (2, head.in_features)
    if arch_info(arch).source == "torchvision":  # exactly torchvision's model: the same keys and shapes
        plain = arch.removeprefix("torchvision:")
        extra = {"image_size": 32} if plain.startswith("vit") else {}
        reference = torchvision.models.get_model(plain, weights=None, num_classes=4, **extra).state_dict()
        assert {k: v.shape for k, v in reference.items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_torchvision_prefix_names_resolve_and_key_the_same_experiment():
    assert resolve_arch("torchvision:mobilenet_v3_small") == "mobilenet_v3_small"
    assert resolve_arch("torchvision:resnet18") == "torchvision:resnet18" != resolve_arch("resnet18")
    a = ExperimentSpec(arch="torchvision:mobilenet_v3_small").resolved()
    assert a.arch == "mobilenet_v3_small" and a.key == ExperimentSpec(arch="mobilenet_v3_small").key
    with pytest.raises(UserInputError, match="unknown architecture 'torchvision:vit_tiny'"):
        resolve_arch("torchvision:vit_tiny")  # ours, built from torchvision's class: no torchvision: alias


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_torchvision_resnet18_state_dict_round_trips(tmp_path: Path, fresh_store, suffix):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(num_classes=10).eval()  # saved by torchvision code
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".pt":
        torch.save(reference.state_dict(), path)
    else:
        save_file(reference.state_dict(), str(path))
    lab = Lab(fresh_store, device="cpu")
    spec = ExperimentSpec("digits", "torchvision:resnet18")
    imported = lab.register_imported(spec, read_state_dict_file(path), "torchvision")
    reloaded = Lab(fresh_store, device="cpu").stored_model(imported.key)
    for key, tensor in reference.state_dict().items():
        assert torch.equal(reloaded.model.state_dict()[key], tensor), key
    x = torch.randn(3, 1, 8, 8)  # digits: grey 8x8, which the model sees as 3x32x32
    adapted = F.interpolate(x.expand(-1, 3, -1, -1), size=(32, 32), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(reloaded.model(x), reference(adapted), atol=1e-5)
    assert reloaded.meta["oracle_recipe"] == "default"


def test_a_mismatch_names_the_first_differing_key_and_shape(tmp_path: Path, fresh_store):
    lab = Lab(fresh_store, device="cpu")
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    with pytest.raises(UserInputError, match=r"first difference: key 'conv1.weight' is \(64, 3, 7, 7\) in the file "
                                             r"but \(64, 1, 3, 3\) in the model.*fits `torchvision:resnet18`"):
        lab.register_imported(ExperimentSpec("digits", "resnet18"), state, "tv")
    deeper = torchvision.models.resnet34(num_classes=10).state_dict()
    with pytest.raises(UserInputError, match=r"first difference: the file's key 'layer1.2.conv1.weight' "
                                             r"\(64, 64, 3, 3\) is not in the model"):
        lab.register_imported(ExperimentSpec("digits", "torchvision:resnet18"), deeper, "tv")
    five_classes = torchvision.models.resnet18(num_classes=5).state_dict()
    with pytest.raises(UserInputError, match=r"key 'fc.weight' is \(5, 512\) in the file but \(10, 512\)"):
        lab.register_imported(ExperimentSpec("digits", "torchvision:resnet18"), five_classes, "tv")


def test_unlearn_archs_lists_parameter_counts(capsys):
    assert main(["archs", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    counts = {a["name"]: a["parameters"] for a in listing["architectures"]}
    assert REQUIRED <= set(counts) and counts["cnn"] == 53_002
    assert counts["torchvision:resnet18"] == 11_181_642  # torchvision's ResNet-18 with a 10-class head
    assert listing["input_shape"] == [1, 8, 8]


def test_recording_updates_of_a_large_model_is_refused_before_training():
    recipe = TrainRecipe(record_updates=True, epochs=30, batch_size=64)
    assert update_log_refusal(recipe, 1437, 53_002) is None
    assert "GiB" in update_log_refusal(recipe, 1437, count_parameters("resnet18", (1, 8, 8), 10))
