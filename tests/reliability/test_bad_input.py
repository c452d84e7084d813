"""The bad-input catalogue, in the CLI and in the UI: each case gives a clear one-line message (CLI: exit 2),
the app keeps serving, and no stored run is lost or corrupted."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
from PIL import Image
from relhelpers import error_line, run_cli

from unlearn_core import store as store_module
from unlearn_core.data import torchvision_sets
from unlearn_core.store import Store

RUN = ("run", "--method", "finetune", "--set", "epochs=1")


def _image_folders(root: Path) -> dict[str, Path]:
    """A folder of non-images, a folder with a single class, and a valid two-class folder."""
    junk, single = root / "junk", root / "single"
    for name in ("a", "b"):
        (junk / name).mkdir(parents=True)
        (junk / name / "notes.png").write_text("not an image")
    (single / "cats").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(single / "cats" / f"{i}.png")
    return {"junk": junk, "single": single}


CATALOGUE = [
    (("run", "--method", "no_such_method", "--forget-classes", "3"), "unknown method 'no_such_method'"),
    ((*RUN, "--dataset", "nope", "--forget-classes", "3"), "unknown dataset 'nope'"),
    ((*RUN, "--arch", "vgg", "--forget-classes", "3"), "unknown architecture 'vgg'"),
    (RUN, "the forget set is empty"),
    ((*RUN, "--forget-classes", "0,1,2,3,4,5,6,7,8,9"), "cannot forget every class"),
    ((*RUN, "--forget-classes", "10"), "class 10 is out of range: digits has classes 0..9"),
    ((*RUN, "--forget-classes", "-1"), "class -1 is out of range"),
    ((*RUN, "--forget-classes", "3,3"), "forget classes contain duplicates"),
    ((*RUN, "--forget-indices", "5,17,5"), "forget index 5 is listed more than once"),
    ((*RUN, "--forget-indices", "99999"), "forget index 99999 is out of range"),
    ((*RUN, "--forget-classes", "three"), "must be comma-separated whole numbers"),
    ((*RUN, "--forget-random", "0"), "strictly between 0 and 1"),
    ((*RUN, "--forget-random", "1"), "strictly between 0 and 1"),
    ((*RUN, "--forget-random", "-0.2"), "strictly between 0 and 1"),
    ((*RUN, "--forget-random", "nan"), "the fraction must be a finite number, got nan"),
    ((*RUN, "--forget-classes", "3", "--set", "lr=nan"), "lr must be a finite number"),
    ((*RUN, "--forget-classes", "3", "--set", "lr=inf"), "lr must be a finite number"),
    ((*RUN, "--forget-classes", "3", "--set", "lr=-0.1"), "lr must be >= "),
    ((*RUN, "--forget-classes", "3", "--set", "lr=1e30"), "lr must be <= "),
    (("run", "--method", "finetune", "--forget-classes", "3", "--set", "epochs=1000000000"), "epochs must be <= "),
    ((*RUN, "--forget-classes", "3", "--set", "batch_size=-5"), "batch_size must be >= "),
    ((*RUN, "--forget-classes", "3", "--set", "no_such_param=1"), "unknown parameter 'no_such_param'"),
    ((*RUN, "--forget-classes", "3", "--epochs", "0"), "epochs must be in [1, 1000]"),
    ((*RUN, "--forget-classes", "3", "--seed", "-1"), "the seed must be in [0, 4294967295]"),
    ((*RUN, "--forget-classes", "3", "--dataset-option", "bogus=1"), "digits has no option 'bogus'"),
    (("run", "--config", "/nonexistent/run.json"), "run config /nonexistent/run.json does not exist"),
    (("compare", "--methods", "finetune,nope", "--forget-classes", "3"), "unknown method 'nope'"),
    (("compare", "--methods", "finetune", "--forget-classes", "0,1,2,3,4,5,6,7,8,9"), "cannot forget every class"),
    (("import", "--checkpoint", "/nonexistent/model.safetensors"), "does not exist"),
    (("train", "--dataset", "imagefolder"), "imagefolder needs a folder"),
    (("train", "--dataset", "imagefolder", "--dataset-option", "root=/nonexistent/images"), "does not exist"),
]


@pytest.mark.parametrize("args, reason", CATALOGUE, ids=[" ".join(a[1:])[:60] for a, _ in CATALOGUE])
def test_cli_bad_input_exits_2_with_one_line_and_touches_nothing(home: Path, args, reason):
    before = sorted(m["key"] for m in Store(home).list_models())
    started = time.perf_counter()
    line = error_line(run_cli(*args))
    assert reason in line, line
    assert time.perf_counter() - started < 20  # refused up front, not after training a model
    after = Store(home)
    assert after.list_runs() == [] and sorted(m["key"] for m in after.list_models()) == before


def test_image_folders_with_non_images_or_a_single_class(home: Path, tmp_path: Path):
    folders = _image_folders(tmp_path)
    line = error_line(run_cli("train", "--dataset", "imagefolder", "--dataset-option", f"root={folders['junk']}"))
    assert "needs at least two class sub-folders containing images; found 0" in line
    assert "skipped 2 files that are not images" in line
    line = error_line(run_cli("train", "--dataset", "imagefolder", "--dataset-option", f"root={folders['single']}"))
    assert "found 1" in line


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_missing_dataset_folder_without_network(home: Path, tmp_path: Path, monkeypatch, dataset):
    monkeypatch.setattr(torchvision_sets, "network_available", lambda *a, **k: False)
    line = error_line(run_cli("train", "--dataset", dataset, "--dataset-option", f"root={tmp_path / 'nodata'}"))
    assert "there is no network to download them" in line and str(tmp_path / "nodata") in line


def test_unusable_workspace_folder(tmp_path: Path, monkeypatch):
    (tmp_path / "a_file").write_text("UNLEARN_HOME cannot be below a file")
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "a_file" / "home"))
    line = error_line(run_cli("run", "--method", "finetune", "--forget-classes", "3"))
    assert "cannot use workspace" in line


def test_disk_full_while_storing_a_run(home: Path, private_lab, monkeypatch):
    """ENOSPC while writing a run's folder: exit 2 with the reason, the run marked failed, earlier runs intact."""
    earlier = run_cli(*RUN, "--forget-classes", "3", "--json")
    assert earlier.code == 0, earlier.stderr

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "atomic_write_json", disk_full)
        line = error_line(run_cli(*RUN, "--forget-classes", "3"))
    assert "cannot write run" in line and "No space left on device" in line
    store = Store(home)
    runs = {r["status"]: r for r in store.list_runs()}
    assert set(runs) == {"ok", "failed"}
    assert "No space left on device" in runs["failed"]["error"]
    assert not list((home / "runs").glob(".tmp-*")) and not store.run_dir(runs["failed"]["id"]).exists()
    assert store.get_run(runs["ok"]["id"])["metrics"]["forget_acc"] is not None
    assert store.load_run_state(runs["ok"]["id"]) is not None


# ---- the same faults through the dashboard ------------------------------------------------------------------
def _wait_for_text(at, text: str, timeout_s: float = 120) -> str:
    """Reruns the page (as the job panel's timer does) until `text` shows up; returns the page's text."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert not at.exception, [e.value for e in at.exception]
        page = "\n".join([c.value for c in at.caption] + [e.value for e in at.error] + [w.value for w in at.warning])
        if text in page or time.monotonic() > deadline:
            return page
        time.sleep(0.5)
        at.run()


def test_ui_refuses_bad_values_and_keeps_serving(home: Path):
    from apphelpers import open_page

    at = open_page("pages/unlearn.py")
    at.checkbox(key="unlearn_use_finetune").check().run()
    for key, bad in (("unlearn_param_finetune_lr", float("nan")), ("unlearn_param_finetune_lr", -1.0),
                     ("unlearn_param_finetune_lr", 1e30), ("unlearn_param_finetune_epochs", 10**9)):
        default = at.number_input(key=key).value
        at.number_input(key=key).set_value(bad).run()
        assert not at.exception
        # either the widget itself refused the value (NaN), or it stays in the field with its reason and
        # nothing can be queued until it is fixed; never a silent replacement by the default
        if at.number_input(key=key).value != default:
            assert any("before queueing" in e.value for e in at.error), key
            assert at.button(key="unlearn_queue").disabled, key
        at.number_input(key=key).set_value(default).run()
        assert not at.button(key="unlearn_queue").disabled, key

    at.session_state["experiment"] = {"dataset": "nope", "arch": "cnn", "seed": 0}
    at.run()
    assert not at.exception and any("unknown dataset 'nope'" in e.value for e in at.error)
    at.session_state["experiment"] = {"dataset": "digits", "arch": "cnn", "seed": 0}
    at.switch_page("pages/compare.py").run()
    assert not at.exception and not at.error and at.title[0].value == "Compare"


def test_ui_jobs_with_bad_forget_set_or_full_disk_fail_with_their_reason(home: Path, monkeypatch):
    from apphelpers import open_page

    at = open_page("pages/forget_set.py")
    at.multiselect(key="forget_classes").set_value(list(range(10))).run()
    assert "cannot forget every class" in "\n".join(i.value for i in at.info)

    # the Unlearn page refuses such a set before offering any method (a run would fail only after training)
    at.switch_page("pages/unlearn.py").run()
    assert any("cannot forget every class" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == "unlearn_queue"]

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    at.session_state["forget_spec"] = {"classes": [3], "indices": [], "random_fraction": None, "seed": 0}
    at.run()
    at.checkbox(key="unlearn_use_finetune").check().run()
    at.number_input(key="unlearn_param_finetune_epochs").set_value(1).run()
    at.button(key="unlearn_queue").click().run()
    _wait_for_text(at, "finished in")
    [stored] = Store(home).list_runs()

    with monkeypatch.context() as patch:
        patch.setattr(store_module, "atomic_write_json", disk_full)
        at.button(key="unlearn_queue").click().run()
        page = _wait_for_text(at, "No space left on device")
    assert "cannot write run" in page and "No space left on device" in page
    store = Store(home)
    assert sorted(r["status"] for r in store.list_runs()) == ["failed", "ok"]
    assert store.get_run(stored["id"])["status"] == "ok" and store.load_run_state(stored["id"]) is not None
    at.switch_page("pages/compare.py").run()  # the app keeps serving the stored run, and lists the failed one
    assert not at.exception and any(label.startswith("finetune") for label in at.table[0].value.index)
    assert any("No space left on device" in w.value for w in at.warning)
