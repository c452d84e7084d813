"""Checkpoints: weights in safetensors, metadata in JSON, never pickle from outside.

A user's checkpoint is untrusted: safetensors files are parsed as raw tensors, and PyTorch files are read
with `weights_only=True`, which refuses any object that would run code when loaded.
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from unlearn_core import UserInputError, validation

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
    """Reads a user's weights file (safetensors or weights-only PyTorch); refuses anything else, in this
    project's words (the message never depends on the installed torch version)."""
    path = validation.input_file(path, "checkpoint", max_bytes=MAX_UPLOAD_BYTES)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
    if path.suffix == ".safetensors" or (len(head) == 8 and int.from_bytes(head, "little") < size):
        try:
            return load_file(str(path))
        except Exception:  # safetensors reports every malformed header as its own error type
            if path.suffix == ".safetensors":
                raise UserInputError(f"{path.name} is not a valid safetensors file (its header or tensor data is "
                                     "malformed)") from None
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":  # torch writes zip archives or protocol-2+ pickles
        raise UserInputError(f"{path.name} was refused: it is neither a safetensors file nor a PyTorch file. "
                             f"{ACCEPTED}")
    refused = code_running_globals(path)
    if refused:
        raise UserInputError(
            f"{path.name} was refused: loading it would call {refused[0]}, which could run arbitrary code; "
            f"nothing in the file was run. {ACCEPTED}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types here; the file is refused whatever the reason
        raise UserInputError(f"{path.name} was refused: {_refusal_reason(str(exc))}. {ACCEPTED}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserInputError(f"{path.name} does not hold a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


ACCEPTED = "Only safetensors files and weights-only PyTorch state dicts are accepted."
# What a pickled state dict legitimately names: tensor rebuilders, storages, dtypes, OrderedDict
_SAFE_GLOBALS = {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"),
                 ("torch._tensor", "_rebuild_from_type_v2"), ("torch.nn.parameter", "Parameter"),
                 *(("builtins", n) for n in ("set", "frozenset", "tuple", "list", "dict", "int", "float", "bool",
                                             "complex", "slice", "bytearray"))}


def _safe_global(module: str, name: str) -> bool:
    if (module, name) in _SAFE_GLOBALS:
        return True
    if module == "torch._utils" and name.startswith("_rebuild_"):
        return True
    return module == "torch" and (name.endswith("Storage") or isinstance(getattr(torch, name, None), torch.dtype))


def _pickle_globals(data: io.BytesIO) -> list[str]:
    """'module.name' of every global a pickle would import, found by reading its opcodes (nothing is run)."""
    found: list[str] = []
    memo: dict[int, object] = {}
    recent: list[object] = []
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.append(f"{module}.{attr}")
        elif name == "STACK_GLOBAL":
            module, attr = (str(v) for v in (recent[-2:] if len(recent) >= 2 else ["?", "?"]))
            found.append(f"{module}.{attr}")
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = recent[-1] if recent else None
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            recent.append(memo.get(int(arg)))
        elif isinstance(arg, str):
            recent.append(arg)
    return found


def code_running_globals(path: Path) -> list[str]:
    """Globals outside the tensor-rebuilding set that the pickles of a PyTorch file would import (a zip
    checkpoint's *.pkl members, or the consecutive pickles of the legacy format); [] when there are none or the
    file is not a pickle at all (torch.load then refuses it)."""
    pickles: list[bytes] = []
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
        else:
            pickles = [path.read_bytes()]
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return []
    refused: list[str] = []
    for data in pickles:
        stream = io.BytesIO(data)
        for _ in range(5):  # legacy files: magic number, protocol, system info, the object, storage keys
            try:
                names = _pickle_globals(stream)  # reads one pickle, up to its STOP opcode
            except Exception:  # not (or no longer) a pickle: the rest is raw tensor data
                break
            refused += [n for n in names if not _safe_global(*n.rsplit(".", 1))]
            if stream.tell() >= len(data):
                break
    return list(dict.fromkeys(refused))


def _refusal_reason(message: str) -> str:
    """Why torch's weights-only loader refused a file, in this project's words: the refused global when
    torch's message names one, else a plain description (torch's own text advises re-loading unsafely, advice a
    user of this app must not be given)."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return f"loading it would call {found.group(1)}, which could run arbitrary code; nothing in the file was run"
    return "it holds Python objects other than tensors or is damaged; nothing in the file was run"


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
    converted = {}
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise UserInputError(f"checkpoint tensor {k} contains NaN or infinite values")
        converted[k] = v.to(expected[k].dtype)
        if v.is_floating_point() and converted[k].is_floating_point() and not torch.isfinite(converted[k]).all():
            # e.g. a float64 value above 3.4e38 would become an infinite float32 weight
            largest = float(v.abs().max())
            raise UserInputError(f"checkpoint tensor {k} holds values beyond the range of {expected[k].dtype} "
                                 f"(largest magnitude {largest:.3g}), which the model cannot store")
    model.load_state_dict(converted)
    return model
