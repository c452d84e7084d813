"""Presets: the built-ins, CIFAR-10 only when its files are present, saving presets from runs, and running
one from the CLI through Lab.compare."""

from __future__ import annotations

import json

import pytest

from unlearn_core import UserInputError, cli, presets
from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.methods import list_methods


def test_builtin_presets_cover_the_three_scenarios():
    by_name = {p.name: p for p in presets.builtin_presets()}
    assert list(by_name) == ["teaching-demo", "random-10", "cifar10-resnet18", "fmnist-class", "fmnist-random-10",
                             "fmnist-50-images"]
    demo = by_name["teaching-demo"]
    assert set(demo.methods) == {*list_methods("seed"), "retrain"}
    assert demo.forget_spec() == ForgetSpec(classes=(3,)) and demo.spec().dataset == "digits"
    random10 = by_name["random-10"]
    assert random10.forget_spec().random_fraction == 0.1 and random10.forget_spec().scenario == "random"
    assert {"retrain", "finetune", "gradient_ascent", "random_label", "l1_sparse", "salun"} <= set(random10.methods)
    assert random10.on_dataset("shapes").spec().dataset == "shapes"
    cifar = by_name["cifar10-resnet18"]
    assert (cifar.spec().dataset, cifar.spec().arch, cifar.forget_spec().scenario) == ("cifar10", "resnet18", "class")
    with pytest.raises(UserInputError, match="tied to cifar10"):
        cifar.on_dataset("digits")


def test_cifar_preset_is_offered_only_with_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path))
    cifar = presets.get_preset("cifar10-resnet18", tmp_path)
    reason = cifar.unavailable()
    assert reason and "cifar-10-batches-py" in reason and "UNLEARN_DATA" in reason
    with pytest.raises(UserInputError, match="cannot run here"):
        presets.run_preset(None, cifar)  # refused before any work
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"]:  # the official cifar-10-python file names
        (folder / name).write_bytes(b"")
    assert cifar.unavailable() is None
    assert presets.get_preset("teaching-demo", tmp_path).unavailable() is None


def test_fashion_mnist_presets_need_its_files(tmp_path, monkeypatch):
    from unlearn_core.data import torchvision_sets

    by_name = {p.name: p for p in presets.builtin_presets()}
    assert by_name["fmnist-class"].forget_spec() == ForgetSpec(classes=(7,))
    assert by_name["fmnist-random-10"].forget_spec().random_fraction == 0.1
    picked = by_name["fmnist-50-images"].forget_spec()
    assert picked.scenario == "images" and len(set(picked.indices)) == 50 and max(picked.indices) < 60_000
    monkeypatch.setenv("UNLEARN_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(torchvision_sets, "SYSTEM_FOLDERS",
                        {"fashion_mnist": (tmp_path / "not-installed", "dataset-fashion-mnist")})
    for name in ("fmnist-class", "fmnist-random-10", "fmnist-50-images"):
        assert "apt-get install dataset-fashion-mnist" in by_name[name].unavailable()
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(b"")
    assert by_name["fmnist-class"].unavailable() is None


def test_saved_presets_round_trip_and_bad_files_are_reported(tmp_path):
    preset = presets.Preset("my-run", "Mine", "a test", {"dataset": "digits", "arch": "cnn", "seed": 1},
                            ForgetSpec(indices=(5, 17)).to_dict(), ("slug", "retrain"), {"slug": {"search_steps": 3}})
    path = presets.save_preset(preset, tmp_path)
    assert path == tmp_path / "presets" / "my-run.json"
    loaded = presets.get_preset("my-run", tmp_path)
    assert loaded.to_dict() == json.loads(json.dumps(preset.to_dict())) and loaded.source == "user"
    with pytest.raises(UserInputError, match="already exists"):
        presets.save_preset(preset, tmp_path)
    (tmp_path / "presets" / "broken.json").write_text("{not json")
    (tmp_path / "presets" / "partial.json").write_text(json.dumps({"name": "partial"}))
    found, problems = presets.user_presets(tmp_path)
    assert [p.name for p in found] == ["my-run"]
    assert sorted(p.split(":")[0] for p in problems) == ["broken.json", "partial.json"]
    for bad in ("Teaching", "../x", "save", "teaching-demo"):
        with pytest.raises(UserInputError):
            presets.save_preset(presets.Preset(bad, bad, "", preset.experiment, preset.forget, ("slug",)), tmp_path)
    presets.delete_preset("my-run", tmp_path)
    assert [p.name for p in presets.all_presets(tmp_path)] == [p.name for p in presets.builtin_presets()]


def test_preset_from_runs_keeps_methods_and_exact_params(lab, digits_base):
    spec, forget = ExperimentSpec(), ForgetSpec(classes=(3,))
    slug = lab.run(spec, forget, "slug", {"search_steps": 4})
    other = lab.run(spec, ForgetSpec(classes=(1,)), "mnemonic")
    preset = presets.preset_from_runs(lab, [slug["run_id"]], "slug-4")
    assert preset.methods == ("slug", "retrain")
    assert preset.params == {"slug": slug["params"]} and preset.params["slug"]["search_steps"] == 4
    assert preset.spec().key == ExperimentSpec.from_dict(slug["experiment"]).key
    assert preset.forget_spec() == forget
    with pytest.raises(UserInputError, match="different scenarios"):
        presets.preset_from_runs(lab, [slug["run_id"], other["run_id"]], "mixed")


def test_presets_list_save_and_run_from_the_cli(lab, digits_base, session_home, capsys):
    slug = lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "slug", {"search_steps": 5})
    capsys.readouterr()
    assert cli.main(["preset", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["presets"]
    assert [p["name"] for p in listed][:3] == ["teaching-demo", "random-10", "cifar10-resnet18"]
    assert cli.main(["preset", "save", "cli-slug", "--from-run", slug["run_id"], "--title", "CLI slug"]) == 0
    assert (session_home / "presets" / "cli-slug.json").is_file()
    capsys.readouterr()
    assert cli.main(["preset", "cli-slug", "--device", "cpu", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    runs = {r["method"]: r for r in result["runs"] if r.get("run_id")}
    assert set(runs) == {"slug", "retrain"} and result["preset"]["name"] == "cli-slug"
    assert runs["slug"]["metrics"]["forget_acc"] == slug["metrics"]["forget_acc"]
    assert runs["slug"]["params"] == slug["params"]
    assert cli.main(["preset", "no-such-preset"]) == 2
    assert "no preset named" in capsys.readouterr().err
    assert cli.main(["preset", "delete", "cli-slug"]) == 0
