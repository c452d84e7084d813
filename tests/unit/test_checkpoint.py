"""Checkpoint import: safetensors and weights-only state dicts pass, anything that would run code is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from unlearn_core import UserInputError
from unlearn_core.models.architectures import build_model
from unlearn_core.models.checkpoint import load_validated, read_state_dict_file


def _model():
    torch.manual_seed(0)
    return build_model("cnn", (1, 8, 8), 10)


def test_safetensors_and_weights_only_state_dicts_load(tmp_path: Path):
    model = _model()
    save_file(model.state_dict(), tmp_path / "m.safetensors")
    torch.save(model.state_dict(), tmp_path / "m.pt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "wrapped.pth")
    for name in ("m.safetensors", "m.pt", "wrapped.pth"):
        state = read_state_dict_file(tmp_path / name)
        loaded = load_validated(build_model("cnn", (1, 8, 8), 10), state)
        assert torch.equal(loaded.f2.weight, model.f2.weight)


def test_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path):
    marker = tmp_path / "created_by_payload"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"weight": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(UserInputError, match="refused"):
        read_state_dict_file(tmp_path / "evil.pt")
    assert not marker.exists()


def test_mismatches_are_explained_by_key_and_shape(tmp_path: Path):
    state = build_model("cnn", (3, 32, 32), 10).state_dict()
    with pytest.raises(UserInputError, match=r"c1.weight: file \(32, 3, 3, 3\) vs model \(32, 1, 3, 3\)"):
        load_validated(_model(), state)
    partial = {k: v for k, v in _model().state_dict().items() if k != "f2.bias"}
    with pytest.raises(UserInputError, match=r"missing keys.*f2\.bias"):
        load_validated(_model(), partial)


def test_corrupt_and_non_finite_files(tmp_path: Path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserInputError, match="not a valid safetensors"):
        read_state_dict_file(tmp_path / "junk.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserInputError):
        read_state_dict_file(tmp_path / "junk.pt")
    state = _model().state_dict()
    state["f1.weight"][0, 0] = float("nan")
    with pytest.raises(UserInputError, match="NaN"):
        load_validated(_model(), state)
