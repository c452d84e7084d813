"""Device selection and the versions every run records."""

from __future__ import annotations

import os
import platform

import torch

from unlearn_core import UserInputError, __version__


def select_device(requested: str | None = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; the UNLEARN_DEVICE variable overrides `auto`."""
    choice = (requested or "auto").lower()
    if choice == "auto":
        choice = os.environ.get("UNLEARN_DEVICE", "auto").lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice not in {"cpu", "cuda", "mps"} and not choice.startswith("cuda:"):
        raise UserInputError(f"unknown device {requested!r}; use auto, cpu, cuda or mps")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError("CUDA was requested but no CUDA device is available; use --device cpu")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise UserInputError("MPS was requested but is not available; use --device cpu")
    return torch.device(choice)


def device_label(device: torch.device) -> str:
    """Human-readable device name, e.g. 'cuda (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def environment_versions() -> dict[str, str]:
    """Versions recorded with every model and run, so a number can be traced to its software."""
    import numpy
    import sklearn

    return {
        "unlearning_lab": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def seed_everything(seed: int) -> torch.Generator:
    """Seeds torch's global generators and returns a CPU generator for explicit sampling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
