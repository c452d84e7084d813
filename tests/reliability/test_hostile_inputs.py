"""Hostile and careless inputs, class by class, through the CLI: each is refused with one line and exit 2 (never
an internal error), nothing is stored, and the message shows the value as given."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from relhelpers import error_line, run_cli
from safetensors.torch import save_file

from unlearn_core import validation
from unlearn_core.models import checkpoint
from unlearn_core.models.architectures import build_model
from unlearn_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
RUN = ("run", "--method", "finetune", "--set", "epochs=1", "--forget-classes", "3")


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch) -> Path:
    """A workspace without models: inputs must be refused before anything would train."""
    home = tmp_path / "empty_home"
    monkeypatch.setenv("UNLEARN_HOME", str(home))
    monkeypatch.setenv("UNLEARN_DEVICE", "cpu")
    return home


def _refused(*args: str) -> str:
    started = time.perf_counter()
    line = error_line(run_cli(*args))
    assert time.perf_counter() - started < 20  # refused up front
    return line


NUMBERS_AT_THE_EDGES = [
    ((*RUN, "--set", "lr=1e309"), "lr must be a finite number, got 1e309"),
    ((*RUN, "--set", "lr=-inf"), "lr must be a finite number, got -inf"),
    ((*RUN, "--set", "epochs=1e309"), "epochs must be a finite number, got 1e309"),
    ((*RUN, "--set", "epochs=2.5"), "epochs must be a whole number, got 2.5"),  # never truncated to 2
    ((*RUN, "--set", "epochs=99999999999999999999999"), "got 99999999999999999999999"),  # shown as typed
    ((*RUN, "--seed", str(2**32)), f"the seed must be in [0, 4294967295], got {2**32}"),
    ((*RUN, "--seed", "9" * 30), "the seed must be in [0, 4294967295]"),
    ((*RUN, "--seed", "1.5"), "the seed must be a whole number, got 1.5"),
    ((*RUN, "--epochs", "1e309"), "the number of epochs must be a finite number, got 1e309"),
    ((*RUN, "--epochs", "2.5"), "the number of epochs must be a whole number, got 2.5"),
    (("run", "--method", "finetune", "--forget-random", "1e309"), "the fraction must be a finite number"),
    (("train", "--dataset", "shapes", "--dataset-option", "n_train=1e309"), "n_train must be a finite number"),
    (("train", "--dataset", "shapes", "--dataset-option", "n_train=2.5"), "n_train must be a whole number, got 2.5"),
    (("train", "--dataset", "shapes", "--dataset-option", "n_train=abc"), "n_train must be a number, got abc"),
    (("train", "--dataset", "shapes", "--dataset-option", f"seed={2**32}"), "seed must be in [0, 4294967295]"),
    (("train", "--dataset", "shapes", "--dataset-option", "seed=-1"), "seed must be in [0, 4294967295], got -1"),
    (("train", "--dataset", "shapes", "--dataset-option", "label_noise=inf"), "label_noise must be a finite"),
    (("train", "--dataset", "shapes", "--dataset-option", "n_train=10000000"), "GiB of memory"),
    (("train", "--dataset", "mnist", "--dataset-option", "max_train=-5"), "max_train must be in [1, 10000000]"),
    (("dashboard", "--port", "99999"), "the port must be in [1, 65535], got 99999"),
    (("dashboard", "--port", "-1"), "the port must be in [1, 65535], got -1"),
]


@pytest.mark.parametrize("args, reason", NUMBERS_AT_THE_EDGES, ids=[" ".join(a)[-50:] for a, _ in NUMBERS_AT_THE_EDGES])
def test_numbers_at_the_edges(empty_home: Path, monkeypatch, args, reason):
    monkeypatch.setattr(validation, "memory_budget_bytes", lambda: 8 * 2**30)  # the same answer on any machine
    assert reason in _refused(*args)
    assert not (empty_home / "models").exists() or not any((empty_home / "models").iterdir())


# ---- files the CLI reads ----------------------------------------------------------------------------------------
def _hostile_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"deep": "[" * 100_000 + "]" * 100_000, "wrong_types": json.dumps({"experiment": [1], "forget": "x",
                                                                                 "method": 5}),
             "list": "[1, 2]", "nan_seed": '{"experiment": {"seed": NaN}, "forget": {}, "method": "finetune"}'}
    paths = {name: folder / f"{name}.json" for name in files}
    for name, content in files.items():
        paths[name].write_text(content)
    paths["latin1"] = folder / "latin1.json"
    paths["latin1"].write_bytes(b'{"experiment": {"dataset": "d\xe9"}}')
    paths["folder"] = folder / "a_folder.json"
    paths["folder"].mkdir(exist_ok=True)
    paths["huge"] = folder / "huge.json"
    with paths["huge"].open("wb") as fh:  # sparse: 17 MiB on paper, nothing on disk
        fh.truncate(17 * 2**20)
    paths["device"] = Path("/dev/zero")
    return paths


HOSTILE_FILE_REASONS = {"deep": "nested too deeply", "wrong_types": "must be a JSON object", "list": "JSON object",
                        "nan_seed": "seed must be a finite number, got nan", "latin1": "is not UTF-8 text",
                        "folder": "is a folder, not a file", "huge": "the limit is 16 MiB",
                        "device": "is not a regular file"}


@pytest.mark.parametrize("name", list(HOSTILE_FILE_REASONS))
def test_hostile_config_files(empty_home: Path, tmp_path: Path, name: str):
    path = _hostile_files(tmp_path / "files")[name]
    assert HOSTILE_FILE_REASONS[name] in _refused("run", "--config", str(path))


def test_one_bad_preset_file_does_not_break_the_list(empty_home: Path, tmp_path: Path):
    folder = empty_home / "presets"
    folder.mkdir(parents=True)
    for name, path in _hostile_files(tmp_path / "files").items():
        target = folder / f"bad-{name.replace('_', '-')}.json"
        if path.is_dir():
            target.mkdir()
        elif name == "device":
            target.symlink_to(path)  # a preset "file" that is /dev/zero: never read without bound
        else:
            target.write_bytes(path.read_bytes())
    good = {"name": "mine", "title": "Mine", "experiment": {"dataset": "digits", "arch": "cnn", "seed": 0},
            "forget": {"classes": [3]}, "methods": ["finetune"]}
    (folder / "mine.json").write_text(json.dumps(good))
    result = run_cli("preset", "--list", "--json")
    assert result.code == 0, result.stderr
    listed = json.loads(result.stdout)
    names = [p["name"] for p in listed["presets"]]
    assert "mine" in names and "teaching-demo" in names
    assert len(listed["problems"]) == len(HOSTILE_FILE_REASONS)
    assert result.stderr.count("unlearn: skipped preset file") == len(HOSTILE_FILE_REASONS)


# ---- dataset options and image folders ---------------------------------------------------------------------------
def _image_folder(root: Path, per_class: dict[str, int]) -> Path:
    for name, count in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (i * 30 % 255, 40, 90)).save(root / name / f"{i}.png")
    return root


def test_image_folder_edge_cases(empty_home: Path, tmp_path: Path):
    folder = _image_folder(tmp_path / "images", {"cats": 3, "dogs": 3})
    train = ("train", "--dataset", "imagefolder", "--dataset-option", f"root={folder}")
    for size, reason in (("0", "image_size must be in [4, 512], got 0"), ("-3", "got -3"),
                         ("100000", "got 100000"), ("big", "image_size must be a number, got big")):
        assert reason in _refused(*train, "--dataset-option", f"image_size={size}")
    for fraction in ("0", "1", "1e309", "-0.5"):
        assert "test_fraction must be" in _refused(*train, "--dataset-option", f"test_fraction={fraction}")
    assert "leaves 0 training images for 2 classes" in \
        _refused(*train, "--dataset-option", "test_fraction=0.9", "--dataset-option", "cache=false")
    assert "seed must be in [0, 4294967295]" in _refused(*train, "--dataset-option", f"seed={2**40}")

    few = _image_folder(tmp_path / "few", {"cats": 1, "dogs": 4})
    assert "cats has 1" in _refused("train", "--dataset", "imagefolder", "--dataset-option", f"root={few}")
    not_a_folder = tmp_path / "file.png"
    not_a_folder.write_bytes(b"x")
    assert "is a file, not a folder" in _refused("train", "--dataset", "imagefolder", "--dataset-option",
                                                 f"root={not_a_folder}")


def _claimed_size_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose (valid) header claims width x height pixels: a decompression bomb's first bytes."""
    Image.new("RGB", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # IHDR's checksum, so the header is valid
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side", [8000, 60000])  # below Pillow's own bomb warning (89 M pixels), and far above
def test_decompression_bomb_is_skipped_from_its_header(tmp_path: Path, side: int):
    """Never decoded: the header is enough to refuse it (8000x8000 RGB would take 192 MB, 60000x60000 10 GiB)."""
    from unlearn_core.data.imagefolder import _decode

    bomb = _claimed_size_png(tmp_path / "bomb.png", side, side)
    started = time.perf_counter()
    assert _decode(bomb, "RGB", 32) is None
    assert time.perf_counter() - started < 2
    assert "decompression bomb" in validation.image_problem(bomb, side, side)


# ---- paths -------------------------------------------------------------------------------------------------------
def test_paths_outside_the_workspace_empty_outputs_and_folders(empty_home: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "result.json").write_text(json.dumps({"status": "ok"}))
    for run_id in (str(outside), "../../etc", "../models/base-x", ".."):
        assert "is not a valid id" in _refused("report", "--runs", run_id, "--out", str(tmp_path / "r.html"))
    assert "--out must not be empty" in _refused("report", "--runs", "x", "--out", "")
    assert "is a folder; give a file name" in _refused("report", "--runs", "x", "--out", str(tmp_path))
    assert "does not exist" in _refused("report", "--runs", "x", "--out", str(tmp_path / "no" / "r.html"))
    assert "is a folder, not a file" in _refused("import", "--checkpoint", str(tmp_path))
    assert "is not a valid id" in _refused(*RUN, "--model", "../models/x")


# ---- checkpoints -------------------------------------------------------------------------------------------------
def test_float64_values_beyond_float32_are_refused(empty_home: Path, tmp_path: Path):
    state = {k: v.double() for k, v in build_model("cnn", (1, 8, 8), 10).state_dict().items()}
    state["c1.weight"][0, 0, 0, 0] = 1e300
    save_file(state, tmp_path / "huge.safetensors")
    line = _refused("import", "--checkpoint", str(tmp_path / "huge.safetensors"))
    assert "c1.weight holds values beyond the range of torch.float32 (largest magnitude 1e+300)" in line


def test_pickle_refusal_is_in_our_words_whatever_torch_says(empty_home: Path, tmp_path: Path, monkeypatch):
    """The message names what was refused and never repeats torch's advice (weights_only=False), even when
    torch's own wording changes or names nothing."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    line = _refused("import", "--checkpoint", str(tmp_path / "evil.pt"))
    assert "loading it would call posix.system, which could run arbitrary code" in line
    assert "weights_only" not in line and "nothing in the file was run" in line

    def torch_with_other_words(*args, **kwargs):
        raise RuntimeError("Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` "
                           "will likely succeed, but it can result in arbitrary code execution.")

    torch.save({"w": torch.ones(1)}, tmp_path / "fine.pt")
    monkeypatch.setattr(checkpoint.torch, "load", torch_with_other_words)
    line = _refused("import", "--checkpoint", str(tmp_path / "fine.pt"))
    assert "was refused" in line and "weights_only" not in line and "False" not in line


# ---- method inputs -----------------------------------------------------------------------------------------------
def test_unknown_slug_layer_is_refused_up_front_with_exit_2(home: Path):
    line = error_line(run_cli("run", "--method", "slug", "--forget-classes", "3", "--set", "layer=nope"))
    assert "layer 'nope' is not a candidate tensor" in line
    assert Store(home).list_runs() == []  # refused before a run was stored, not a failed run


# ---- processes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dashboard_passes_signals_to_streamlit_and_leaves_no_orphan(tmp_path: Path, sig):
    """A real `unlearn dashboard`: a signal to it (what a service manager sends) stops the Streamlit server too."""
    env = {**os.environ, "UNLEARN_HOME": str(tmp_path / "home"), "UNLEARN_DEVICE": "cpu"}
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "unlearn_core.cli", "dashboard", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        child = _wait_for_child(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=60)  # it returns once its child has gone
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(child), "the Streamlit server outlived `unlearn dashboard`"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_for_child(pid: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        found = children.read_text().split() if children.exists() else []
        if found:
            return int(found[0])
        time.sleep(0.1)
    raise AssertionError("unlearn dashboard started no Streamlit child")


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
