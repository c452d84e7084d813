"""Checkpoints: weights in safetensors, metadata in JSON, never pickle from outside.

A user's checkpoint is untrusted: safetensors files are parsed as raw tensors, and PyTorch files are read
with `weights_only=True`, which refuses any object that would run code when loaded.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from unlearn_core import UserInputError

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | tuple):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Reads a user's weights file (safetensors or weights-only PyTorch); refuses anything else."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint {path} does not exist")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UserInputError(f"checkpoint is {size / 2**20:.0f} MiB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MiB")
    with path.open("rb") as fh:
        head = fh.read(8)
    if path.suffix == ".safetensors" or (len(head) == 8 and int.from_bytes(head, "little") < size):
        try:
            return load_file(str(path))
        except Exception as exc:
            if path.suffix == ".safetensors":
                raise UserInputError(f"{path.name} is not a valid safetensors file ({exc})") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = _refusal_reason(str(exc))
        raise UserInputError(
            f"{path.name} was refused: only safetensors files or weights-only PyTorch state dicts are "
            f"accepted ({reason})"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserInputError(f"{path.name} does not hold a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def _refusal_reason(message: str) -> str:
    """One readable line from torch's weights-only refusal (which spans lines, has ANSI codes and advises
    re-loading unsafely, advice a user of this app must not be given)."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if found:
        return f"loading it would call {found.group(1)}, which could run arbitrary code"
    return re.sub(r"\x1b\[[0-9;]*m", "", message).strip().splitlines()[0][:200] if message.strip() else "unreadable"


def first_difference(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    """The first place, in the model's key order, where the file and the model disagree (key or shape),
    set beside the file's key at the same position: two architectures usually part ways at one layer."""
    file_keys = list(state)
    for position, (key, tensor) in enumerate(expected.items()):
        there = file_keys[position] if position < len(file_keys) else None
        if key not in state:
            beside = (f"; at that position the file has {there!r} {tuple(state[there].shape)}"
                      if there is not None else "")
            return f"first difference: the model's key {key!r} {tuple(tensor.shape)} is not in the file{beside}"
        if state[key].shape != tensor.shape:
            return (f"first difference: key {key!r} is {tuple(state[key].shape)} in the file but "
                    f"{tuple(tensor.shape)} in the model")
    extra = next(k for k in state if k not in expected)
    return f"first difference: the file's key {extra!r} {tuple(state[extra].shape)} is not in the model"


def load_validated(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Loads `state` into `model`, explaining any missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = [first_difference(state, expected)] if missing or unexpected or mismatched else []
    if missing:
        problems.append(f"missing keys {missing[:5]}" + (" ..." if len(missing) > 5 else ""))
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}" + (" ..." if len(unexpected) > 5 else ""))
    if mismatched:
        problems.append("shape mismatch " + "; ".join(mismatched[:5]))
    if problems:
        raise UserInputError("checkpoint does not fit this architecture: " + problems[0] + "; "
                             + ", ".join(problems[1:]))
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise UserInputError(f"checkpoint tensor {k} contains NaN or infinite values")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model
