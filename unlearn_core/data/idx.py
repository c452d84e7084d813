"""The IDX file format of MNIST and Fashion-MNIST, plain or gzipped (as Debian's dataset-fashion-mnist ships it).

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions, one uint32 per
dimension) followed by the values. Only unsigned bytes (type 0x08) are used by these datasets; a file that is
truncated, of another type or not IDX at all is an input error naming the file.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from unlearn_core import UserInputError

UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (`.gz` files are decompressed on the fly, nothing is written)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserInputError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise UserInputError(f"{path} is not an IDX file (bad magic number)")
    kind, ndim = raw[2], raw[3]
    if kind != UBYTE:
        raise UserInputError(f"{path} holds IDX type 0x{kind:02x}; only unsigned bytes (0x08) are supported")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise UserInputError(f"{path} has a truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise UserInputError(f"{path} should hold {expected} values for shape {shape}, found {len(raw) - header}")
    # a writable copy: torch refuses to share read-only memory, and the raw bytes are dropped right after
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


__all__ = ["read_idx"]
