"""One validation layer for every input that comes from outside the engine.

CLI arguments, `--config` and preset JSON, dataset options, image folders, uploaded checkpoints, run ids and
paths all pass through these functions, and the dashboard calls the same ones, so a new input inherits bounded
sizes, depth and types, finite numbers in range and paths confined to the workspace by using them. Every
function raises `UserInputError` with a one-line reason that names the input (`name`/`what`) and shows the
value as the user gave it, never a truncated or converted one.

Simple building blocks, for any new flag or field:
    finite_float(value, "lr", low=0, high=10, low_open=True)   -> float
    bounded_int(value, "epochs", low=1, high=1000)             -> int (a fraction is refused, not truncated)
    seed_value(value)                                          -> int in [0, 2**32 - 1]
    boolean(value, "grayscale")                                -> bool
    text(value, "dataset")                                     -> str (bounded length, no control characters)
    mapping(value, "experiment")                               -> dict with string keys
    int_list(value, "--forget-classes")                        -> tuple[int, ...]
    read_json_file(path, "run config")                         -> parsed JSON (bounded bytes and depth, UTF-8)
    input_file(path, "checkpoint")                             -> Path of an existing regular file
    output_file(text, "--out")                                 -> Path a file may be written to
    confined_path(path, root, "run folder")                    -> Path inside `root`
    storage_key(value, "run id")                               -> str safe as one folder name
    dataset_options(name, options)                             -> the options, typed and in range
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from unlearn_core import UserInputError

SEED_MAX = 2**32 - 1  # numpy and scikit-learn refuse larger seeds
MAX_JSON_BYTES = 16 * 2**20  # a run record with every metric is well under 1 MiB
MAX_JSON_DEPTH = 32  # run records nest 6 levels deep
MAX_TEXT_CHARS = 4096  # paths included (PATH_MAX on Linux)
MAX_LIST_ITEMS = 1_000_000
# The share of this machine's memory one dataset may take (the rest is for models, the app and other jobs)
DATASET_MEMORY_SHARE = 0.5
# Images larger than this are refused before they are decoded (PIL only warns below ~179 million pixels)
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_FILE_BYTES = 64 * 2**20
MAX_FOLDER_IMAGES = 500_000
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _shown(value: Any) -> str:
    """The value as the user gave it, shortened so that a message stays one readable line."""
    shown = value if isinstance(value, str) else repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# ---- numbers -----------------------------------------------------------------------------------------------
def finite_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite float in [low, high] (`low_open`/`high_open` exclude the bound); accepts numbers and numeric
    strings, refuses booleans, NaN, infinities and values that overflow a float (`1e309`)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserInputError(f"{name} must be a number, got {_shown(value)}")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except OverflowError:
        number = math.inf
    except ValueError:
        raise UserInputError(f"{name} must be a number, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise UserInputError(f"{name} must be a finite number, got {_shown(value)}")
    _check_range(number, value, name, low, high, low_open, high_open)
    return number


def bounded_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """A whole number in [low, high]; accepts ints, integral floats and strings such as '12' or '1e3', refuses
    fractions ('2.5' is an error, never truncated to 2), booleans and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserInputError(f"{name} must be a whole number, got {_shown(value)}")
    if isinstance(value, int):
        number = value
    else:
        raw = value.strip() if isinstance(value, str) else value
        try:
            number = int(raw) if isinstance(raw, str) else None
        except ValueError:
            number = None
        if number is None:
            as_float = finite_float(value, name)
            if not as_float.is_integer():
                raise UserInputError(f"{name} must be a whole number, got {_shown(value)}")
            if abs(as_float) > 2**53:  # beyond this a float no longer holds the integer the user wrote
                raise UserInputError(f"{name} is out of range, got {_shown(value)}")
            number = int(as_float)
    _check_range(number, value, name, low, high, False, False)
    return number


def _check_range(number: float, given: Any, name: str, low: float | None, high: float | None,
                 low_open: bool, high_open: bool) -> None:
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        if low_open and high_open and low is not None and high is not None:
            bounds = f"strictly between {_bound(low)} and {_bound(high)}"
        else:
            bounds = (f"in {'(' if low_open else '['}{'-inf' if low is None else _bound(low)}, "
                      f"{'inf' if high is None else _bound(high)}{')' if high_open else ']'}")
        raise UserInputError(f"{name} must be {bounds}, got {_shown(given)}")


def _bound(number: float) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def seed_value(value: Any, name: str = "seed") -> int:
    """A seed: a whole number in [0, 2**32 - 1] (what numpy, scikit-learn and torch all accept)."""
    return bounded_int(value, name, low=0, high=SEED_MAX)


def boolean(value: Any, name: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case), or a real boolean; nothing else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off"}:
            return False
    raise UserInputError(f"{name} must be true or false, got {_shown(value)}")


def choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """One of `choices` (compared as given)."""
    options = list(choices)
    if isinstance(value, list | dict) or value not in options:
        raise UserInputError(f"{name} must be one of {', '.join(map(str, options))}, got {_shown(value)}")
    return value


# ---- text and structures -----------------------------------------------------------------------------------
def text(value: Any, name: str, *, max_chars: int = MAX_TEXT_CHARS, allow_empty: bool = False) -> str:
    """A string of at most `max_chars` characters without control characters (NUL included)."""
    if not isinstance(value, str):
        raise UserInputError(f"{name} must be text, got {_shown(value)}")
    if not value.strip() and not allow_empty:
        raise UserInputError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise UserInputError(f"{name} is {len(value)} characters long; the limit is {max_chars}")
    if _CONTROL.search(value):
        raise UserInputError(f"{name} contains control characters: {value.encode('unicode_escape').decode()[:60]}")
    return value


def mapping(value: Any, name: str) -> dict[str, Any]:
    """A JSON object (dict with string keys); a list, number or string is refused."""
    if not isinstance(value, Mapping):
        raise UserInputError(f"{name} must be a JSON object (key: value pairs), got {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise UserInputError(f"{name} has a key that is not text: {_shown(bad[0])}")
    return dict(value)


def int_list(value: Any, name: str, *, low: int | None = None, high: int | None = None,
             max_items: int = MAX_LIST_ITEMS) -> tuple[int, ...]:
    """Whole numbers from a list, or from comma-separated text ('3,7'); empty entries are skipped."""
    if value is None:
        return ()
    if isinstance(value, str):
        if len(value) > 16 * max_items:
            raise UserInputError(f"{name} is too long ({len(value)} characters)")
        items: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise UserInputError(f"{name} must be a list of whole numbers, got {_shown(value)}")
    if len(items) > max_items:
        raise UserInputError(f"{name} has {len(items)} entries; the limit is {max_items}")
    try:
        numbers = tuple(bounded_int(v, name) for v in items)
    except UserInputError:
        if isinstance(value, str):
            raise UserInputError(f"{name} must be comma-separated whole numbers, got {_shown(value)}") from None
        raise
    return tuple(bounded_int(n, name, low=low, high=high) for n in numbers)


def json_depth(obj: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(data: bytes | str, what: str, *, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from bytes or text: UTF-8 (a BOM is allowed), at most `max_bytes`, nested at most `max_depth`."""
    if len(data) > max_bytes:
        raise UserInputError(f"{what} is larger than the {max_bytes // 2**20} MiB limit")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UserInputError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
                                 f"{exc.start})") from None
    if not data.strip():
        raise UserInputError(f"{what} is empty")
    try:
        obj = json.loads(data)
    except RecursionError:
        raise UserInputError(f"{what} is nested too deeply (the limit is {max_depth} levels)") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    if json_depth(obj) > max_depth:
        raise UserInputError(f"{what} is nested too deeply (the limit is {max_depth} levels)")
    return obj


# ---- files and paths ---------------------------------------------------------------------------------------
def input_file(path: Any, what: str, *, max_bytes: int | None = None) -> Path:
    """An existing regular file (not a folder, device or pipe) of at most `max_bytes`."""
    path = Path(text(str(path) if isinstance(path, Path) else path, what)).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserInputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UserInputError(f"cannot read {what} {path}: {plain_os_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserInputError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UserInputError(f"{what} {path} is not a regular file (a device, pipe or socket)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UserInputError(f"{what} {path} is {info.st_size / 2**20:.1f} MiB; the limit is "
                             f"{max_bytes / 2**20:.0f} MiB")
    return path


def read_bytes_bounded(path: Any, what: str, max_bytes: int) -> bytes:
    """The content of a regular file, reading at most `max_bytes` (a file that grows while read is refused)."""
    path = input_file(path, what, max_bytes=max_bytes)
    try:
        # O_NONBLOCK: a path swapped for a pipe between the check and the open must not hang the reader
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise UserInputError(f"{what} {path} is not a regular file")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserInputError(f"cannot read {what} {path}: {plain_os_reason(exc)}") from None
    if len(data) > max_bytes:
        raise UserInputError(f"{what} {path} is larger than the {max_bytes / 2**20:.0f} MiB limit")
    return data


def read_json_file(path: Any, what: str, *, max_bytes: int = MAX_JSON_BYTES,
                   max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parsed JSON of a regular UTF-8 file, with bounded size and depth (folders, devices refused)."""
    data = read_bytes_bounded(path, what, max_bytes)
    return parse_json(data, f"{what} {path}", max_bytes=max_bytes, max_depth=max_depth)


def output_file(value: Any, what: str) -> Path:
    """A path a file may be written to: not empty, not a folder, in a folder that exists."""
    path = Path(text(str(value) if isinstance(value, Path) else value, what)).expanduser()
    if path.is_dir():
        raise UserInputError(f"{what} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise UserInputError(f"{what} {path}: the folder {path.parent} does not exist")
    return path


def confined_path(path: Any, root: Path, what: str) -> Path:
    """`path` (relative paths are taken inside `root`) resolved, refused unless it lies inside `root`."""
    base = Path(root).resolve()
    candidate = Path(text(str(path) if isinstance(path, Path) else path, what))
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UserInputError(f"{what} {_shown(str(path))} lies outside the workspace {base}")
    return resolved


def storage_key(value: Any, what: str) -> str:
    """A run id or model key: letters, digits, '.', '_' or '-', one folder name (no '/', no '..')."""
    key = text(value, what, max_chars=128)
    if not _KEY_PATTERN.match(key) or ".." in key:
        raise UserInputError(f"{what} {_shown(key)} is not a valid id (letters, digits, '.', '_' or '-')")
    return key


def plain_os_reason(exc: BaseException) -> str:
    """The reason an OS or SQLite operation failed, in plain words (disk full, read-only, permission)."""
    import errno

    number = getattr(exc, "errno", None)
    words = {errno.ENOSPC: "the disk is full (No space left on device)",
             errno.EDQUOT: "the disk quota is exceeded",
             errno.EROFS: "the file system is read-only",
             errno.EACCES: "permission denied",
             errno.EPERM: "the operation is not permitted",
             errno.ENOENT: "no such file or folder",
             errno.EISDIR: "it is a folder, not a file",
             errno.ENOTDIR: "a part of the path is a file, not a folder"}
    if number in words:
        return words[number]
    message = " ".join(str(exc).split()).lower()
    for needle, phrase in (("disk is full", words[errno.ENOSPC]), ("no space", words[errno.ENOSPC]),
                           ("readonly", "the file system or file is read-only"),
                           ("read-only", "the file system or file is read-only"),
                           ("unable to open database file", "the index file cannot be opened (a read-only "
                                                            "folder, a missing folder or no permission)")):
        if needle in message:
            return phrase
    return getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__


# ---- dataset options and image folders ---------------------------------------------------------------------
def _optional(rule):
    def check(value: Any, name: str) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none", "null"}):
            return None
        return rule(value, name)

    return check


def _image_count(value: Any, name: str) -> int:
    return bounded_int(value, name, low=1, high=10_000_000)


def _path_text(value: Any, name: str) -> str:
    return text(value if isinstance(value, str) else str(value), name)


# Rules for option names shared by several datasets; other options are typed by their registered default
DATASET_OPTION_RULES = {
    "seed": seed_value,
    "n_train": _image_count,
    "n_test": _image_count,
    "max_train": _optional(_image_count),
    "max_test": _optional(_image_count),
    "image_size": lambda v, n: bounded_int(v, n, low=4, high=512),
    "test_fraction": lambda v, n: finite_float(v, n, low=0.0, high=1.0, low_open=True, high_open=True),
    "label_noise": lambda v, n: finite_float(v, n, low=0.0, high=1.0, high_open=True),
    "grayscale": boolean,
    "root": _optional(_path_text),
}


def _rule_for_default(default: Any):
    if isinstance(default, bool):
        return boolean
    if isinstance(default, int):
        return lambda v, n: bounded_int(v, n, low=-(2**31), high=2**31 - 1)
    if isinstance(default, float):
        return finite_float
    if isinstance(default, str):
        return text
    return _optional(lambda v, n: v if isinstance(v, bool | int | float | str) else text(v, n))


def dataset_options(dataset: str, options: Mapping[str, Any], defaults: Iterable[tuple[str, Any]]) -> dict:
    """The options of `dataset`, each typed and in range (`defaults` are its registered (name, default) pairs):
    unknown names, wrong types, non-finite or out-of-range numbers are refused."""
    known = dict(defaults)
    out: dict[str, Any] = {}
    for key, value in mapping(options, f"{dataset} options").items():
        if key not in known:
            raise UserInputError(f"{dataset} has no option {key!r}; options: {', '.join(sorted(known)) or 'none'}")
        rule = DATASET_OPTION_RULES.get(key) or _rule_for_default(known[key])
        out[key] = rule(value, f"{dataset} option {key}")
    return out


def memory_budget_bytes() -> int:
    """The bytes one dataset may occupy: a share of this machine's physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return int(total * DATASET_MEMORY_SHARE)


def fits_in_memory(num_images: int, bytes_per_image: int, what: str) -> None:
    """Refuses a dataset whose tensors would take more than `memory_budget_bytes()`."""
    needed, budget = num_images * bytes_per_image, memory_budget_bytes()
    if needed > budget:
        raise UserInputError(f"{what} needs about {needed / 2**30:.1f} GiB of memory for its images; this machine "
                             f"allows {budget / 2**30:.1f} GiB per dataset. Choose fewer images")


def image_folder(root: Any, image_size: int, channels: int) -> Path:
    """The root of an image folder dataset: an existing folder whose images, once decoded at `image_size`,
    fit in memory (at most MAX_FOLDER_IMAGES files in its class sub-folders)."""
    if root is None or (isinstance(root, str) and not root.strip()):
        raise UserInputError("imagefolder needs a folder: pass root=/path/to/folder")
    folder = Path(text(str(root), "image folder")).expanduser()
    if not folder.is_dir():
        raise UserInputError(f"image folder {folder} does not exist" if not folder.exists()
                             else f"image folder {folder} is a file, not a folder")
    try:
        count = 0
        for class_dir in folder.iterdir():
            if class_dir.is_dir():
                count += sum(1 for _ in class_dir.iterdir())
            if count > MAX_FOLDER_IMAGES:
                raise UserInputError(f"image folder {folder} holds more than {MAX_FOLDER_IMAGES:,} files")
    except OSError as exc:
        raise UserInputError(f"cannot read image folder {folder}: {plain_os_reason(exc)}") from None
    # float32 pixels, held twice while the split is normalised
    fits_in_memory(count, 2 * 4 * channels * image_size * image_size, f"image folder {folder}")
    return folder


def image_problem(path: Path, width: int, height: int) -> str | None:
    """None when an image may be decoded, else why it is skipped (a decompression bomb, a huge file)."""
    if width <= 0 or height <= 0:
        return "it has no pixels"
    if width * height > MAX_IMAGE_PIXELS:
        return (f"it has {width}x{height} pixels, more than the limit of {MAX_IMAGE_PIXELS:,} (a decompression "
                "bomb?)")
    if path.stat().st_size > MAX_IMAGE_FILE_BYTES:
        return f"the file is larger than {MAX_IMAGE_FILE_BYTES // 2**20} MiB"
    return None


def split_sizes(per_class: Mapping[str, int], test_fraction: float, what: str) -> None:
    """Refuses a stratified train/test split that cannot give every class an image on both sides."""
    small = [name for name, count in per_class.items() if count < 2]
    if small:
        raise UserInputError(f"every class folder needs at least two images to split into train and test; "
                             f"{small[0]} has {per_class[small[0]]}")
    total, classes = sum(per_class.values()), len(per_class)
    n_test = math.ceil(test_fraction * total)  # scikit-learn's rounding of a fractional test size
    n_train = total - n_test
    if n_test < classes or n_train < classes:
        side = "test" if n_test < classes else "training"
        raise UserInputError(f"{what}: test_fraction {test_fraction} leaves {min(n_test, n_train)} {side} images "
                             f"for {classes} classes; each class needs at least one on both sides")
