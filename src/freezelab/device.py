"""Pick the compute device and make runs reproducible."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .paths import DEVICE_ENV, device_override

_CHOICES = ("cuda", "mps", "cpu")


def pick_device(prefer: str | None = None) -> torch.device:
    """Return CUDA, then Apple MPS, then CPU; `prefer` or $FREEZELAB_DEVICE forces one."""
    wanted = (prefer or "").strip().lower() or device_override()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in _CHOICES:
            raise ValueError(
                f"{DEVICE_ENV}={wanted!r} is not a device: use one of {', '.join(_CHOICES)} (or unset it)."
            )
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{DEVICE_ENV} asks for CUDA but torch sees no CUDA GPU: unset it or use cpu.")
        if kind == "mps" and not _mps_available():
            raise RuntimeError(f"{DEVICE_ENV} asks for MPS but this machine has none: unset it or use cpu.")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: torch.device | str | None = None,
                   default: torch.device | str | None = None) -> torch.device:
    """`device` as a `torch.device`; when it is None, `default`, and `pick_device()` when both are None."""
    if device is None:
        device = default
    return torch.device(device) if device is not None else pick_device()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (the CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work on `device` (no-op on the CPU): read a clock only after this."""
    # CUDA and MPS kernels run asynchronously: without this, a timer measures the queueing, not the work.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def describe_device(device: torch.device | None = None) -> str:
    """One line saying which device is in use, e.g. 'cuda (NVIDIA H100)'."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); optionally ask for deterministic kernels.

    Returns a CPU `torch.Generator` seeded the same way, for DataLoaders and samplers.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    if deterministic:
        # warn_only: some CUDA kernels have no deterministic version; a warning beats a crash mid-lesson.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
