"""The same hostile inputs through the dashboard (AppTest): each gives a clear message, the app keeps serving, and
a damaged index is rebuilt with the user told."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

from safetensors.torch import save

from unlearn_core.data import ForgetSpec
from unlearn_core.experiment import ExperimentSpec
from unlearn_core.models.architectures import build_model

VALID_EXPERIMENT = {"dataset": "digits", "arch": "cnn", "seed": 0}


def _page_text(at) -> str:
    return "\n".join([e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info])


def _still_serving(at) -> None:
    """Back to valid values, another page renders without error."""
    at.session_state["experiment"] = VALID_EXPERIMENT
    at.session_state["forget_spec"] = ForgetSpec(classes=(3,)).to_dict()
    at.switch_page("pages/home.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_hostile_session_values_get_a_message_and_the_app_keeps_serving(home: Path):
    from apphelpers import open_page

    at = open_page("pages/forget_set.py")
    for experiment, reason in (({**VALID_EXPERIMENT, "seed": 2**40}, "seed must be in [0, 4294967295]"),
                               ({**VALID_EXPERIMENT, "seed": "abc"}, "seed must be a number, got abc"),
                               ({"dataset": "shapes", "arch": "cnn", "dataset_options": {"n_train": 1e309}},
                                "n_train must be a finite number"),
                               ({**VALID_EXPERIMENT, "recipe": {"epochs": 2.5}}, "recipe epochs must be a whole"),
                               ([1, 2], "experiment must be a JSON object")):
        at.session_state["experiment"] = experiment
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert reason in _page_text(at), (reason, _page_text(at))
    at.session_state["experiment"] = VALID_EXPERIMENT
    at.session_state["forget_spec"] = {"classes": [3], "random_fraction": float("inf")}
    at.run()
    assert not at.exception and "random fraction must be a finite number" in _page_text(at)
    _still_serving(at)


def test_bad_preset_files_are_listed_as_skipped_beside_the_presets(home: Path):
    from apphelpers import open_page

    folder = home / "presets"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    (folder / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (folder / "folder.json").mkdir()
    (folder / "zero.json").symlink_to("/dev/zero")
    at = open_page("pages/report.py")
    assert not at.exception, [e.value for e in at.exception]
    skipped = [w.value for w in at.warning if "Skipped a preset file" in w.value]
    assert len(skipped) == 4, skipped
    assert any("nested too deeply" in s for s in skipped) and any("not UTF-8" in s for s in skipped)
    assert any("not a regular file" in s for s in skipped) and any("is a folder" in s for s in skipped)
    assert any("Teaching demo" in m.value for m in at.markdown)  # the built-in presets are still listed
    _still_serving(at)


def test_upload_of_float64_weights_beyond_float32_is_refused(home: Path):
    from apphelpers import open_page

    state = {k: v.double() for k, v in build_model("cnn", (1, 8, 8), 10).state_dict().items()}
    state["f1.weight"][0, 0] = -1e200
    at = open_page("pages/model.py")
    at.get("file_uploader")[0].upload("huge.safetensors", save(state)).run()
    at.button(key="model_import").click().run()
    assert not at.exception
    assert any("beyond the range of torch.float32" in e.value for e in at.error), [e.value for e in at.error]
    _still_serving(at)


def test_a_damaged_index_is_rebuilt_and_a_deleted_run_shows_as_missing(home: Path, private_lab):
    from apphelpers import open_page

    record = private_lab.run(ExperimentSpec(), ForgetSpec(classes=(3,)), "finetune", {"epochs": 1})
    assert record["status"] == "ok"
    private_lab.store.close()
    gc.collect()
    (home / "index.sqlite").write_bytes(b"")  # what the issue saw: a zero-byte index hid every run
    for extra in home.glob("index.sqlite-*"):
        extra.unlink()

    at = open_page()  # the first page this session sees tells what was repaired
    assert not at.exception, [e.value for e in at.exception]
    assert any("recovered 1 run" in i.value for i in at.info), [i.value for i in at.info]
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    # the run is listed again (its metrics: test_store_recovery)
    assert any(label.startswith("finetune") for label in at.table[0].value.index)

    shutil.rmtree(home / "runs" / record["run_id"])
    at.run()
    assert not at.exception
    assert any("missing" in w.value and "is gone" in w.value for w in at.warning), [w.value for w in at.warning]
