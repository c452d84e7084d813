"""Uploads (`unlearn import` and the Model page): only safetensors or weights-only state dicts; a pickle that
would run code is refused and runs nothing; a size limit; mismatches explained by key and shape."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
import torch
from relhelpers import error_line, run_cli
from safetensors.torch import save, save_file

from unlearn_core.models import checkpoint
from unlearn_core.models.architectures import build_model
from unlearn_core.store import Store

MISMATCH = "c1.weight: file (32, 3, 3, 3) vs model (32, 1, 3, 3)"


class _TouchOnLoad:
    """Unpickling this object creates `marker`: the proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _payload(kind: str, marker: Path) -> bytes:
    """The same code-running payload as a torch zip checkpoint or a bare pickle."""
    evil = {"c1.weight": _TouchOnLoad(marker)}
    if kind == "torch_zip":
        buffer = io.BytesIO()
        torch.save(evil, buffer)
        return buffer.getvalue()
    return pickle.dumps(evil, protocol=2)


def _runs_when_loaded_unsafely(data: bytes, marker: Path) -> bool:
    """Control: plain unpickling (torch.load without weights_only) does run the payload."""
    try:
        torch.load(io.BytesIO(data), weights_only=False)
    except Exception:
        pickle.loads(data)
    return marker.exists()


def _state(input_shape: tuple[int, int, int] = (1, 8, 8)) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_model("cnn", input_shape, 10).state_dict()


@pytest.mark.parametrize("kind, name", [("torch_zip", "evil.pt"), ("bare_pickle", "evil.pth"),
                                        ("bare_pickle", "evil.safetensors")])
def test_cli_import_refuses_code_running_pickles_and_runs_nothing(home, tmp_path, kind, name):
    marker = tmp_path / "created_by_payload"
    data = _payload(kind, marker)
    (tmp_path / name).write_bytes(data)
    line = error_line(run_cli("import", "--checkpoint", str(tmp_path / name)))
    assert "refused" in line or "not a valid safetensors" in line, line
    assert not marker.exists()
    assert not Store(home).list_models("imported")
    assert _runs_when_loaded_unsafely(data, marker)  # the payload is real: the refusal is what stopped it


def test_cli_import_size_limit_mismatch_and_success(home, tmp_path, monkeypatch):
    save_file(_state(), tmp_path / "good.safetensors")
    torch.save(_state((3, 32, 32)), tmp_path / "cifar_cnn.pt")

    assert MISMATCH in error_line(run_cli("import", "--checkpoint", str(tmp_path / "cifar_cnn.pt")))
    line = error_line(run_cli("import", "--checkpoint", str(tmp_path / "good.safetensors"), "--arch", "mlp"))
    assert "missing keys" in line and "unexpected keys" in line

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "MAX_UPLOAD_BYTES", 64 * 1024)
        assert "the limit is" in error_line(run_cli("import", "--checkpoint", str(tmp_path / "good.safetensors")))
    assert not Store(home).list_models("imported")

    ok = run_cli("import", "--checkpoint", str(tmp_path / "good.safetensors"), "--json")
    assert ok.code == 0, ok.stderr
    assert [m["kind"] for m in Store(home).list_models("imported")] == ["imported"]


def test_model_page_upload_path(home, tmp_path, monkeypatch):
    """The Model page's uploader and Import button, driven by AppTest with real file contents."""
    from apphelpers import open_page

    marker = tmp_path / "created_by_page_payload"
    at = open_page("pages/model.py")

    def import_file(name: str, data: bytes):
        at.get("file_uploader")[0].upload(name, data).run()
        at.button(key="model_import").click().run()
        assert not at.exception, [e.value for e in at.exception]
        return [e.value for e in at.error], [s.value for s in at.success]

    errors, _ = import_file("my evil.pt", _payload("torch_zip", marker))
    assert any("refused" in e and "arbitrary code" in e for e in errors), errors
    # the refusal names the user's file (not a temp name) and never passes on torch's advice to load unsafely
    assert all(e.startswith("my evil.pt was refused") and "weights_only" not in e for e in errors), errors
    errors, _ = import_file("notes.pt", b"PK\x03\x04 not really a zip")
    assert all(e.startswith("notes.pt ") and "weights_only" not in e for e in errors) and errors, errors
    assert not marker.exists()

    errors, _ = import_file("cifar_cnn.safetensors", save(_state((3, 32, 32))))
    assert any(MISMATCH in e for e in errors), errors

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "MAX_UPLOAD_BYTES", 64 * 1024)
        errors, _ = import_file("good.safetensors", save(_state()))
    assert any("the limit is" in e for e in errors), errors
    assert not Store(home).list_models("imported")

    errors, successes = import_file("good.safetensors", save(_state()))
    assert not errors and any("Imported good.safetensors" in s for s in successes), (errors, successes)
    assert len(Store(home).list_models("imported")) == 1
