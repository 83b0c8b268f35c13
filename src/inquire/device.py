"""Choosing the compute device.

The default is the fastest device present (CUDA, then Apple's MPS, then the CPU); ``--device``
overrides it. Which numeric precision a model runs at on that device is
:mod:`inquire.models.precision`'s business.

torch is imported only where a device must be probed: a run whose embeddings are all cached
decides its device type (which keys its caches) without it wherever no GPU can be present.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InquireError

if TYPE_CHECKING:
    import torch

#: what a GPU driver leaves on Linux: NVIDIA's kernel driver, WSL's GPU bridge, AMD's ROCm (CUDA in torch)
_GPU_DRIVER_FILES = ("/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def pick_device(requested: str | None = None) -> "torch.device":
    """The device to run models on: ``requested`` if given and present, else the best available."""
    import torch

    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise InquireError(f"Unknown device {requested!r} (--device): use cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InquireError(f"--device {requested}: no CUDA GPU is available here; use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InquireError(f"--device {requested}: MPS is not available here; use --device cpu.")
    return device


def device_type(requested: str | None = None) -> str:
    """``cuda``, ``mps`` or ``cpu``: the type of the device :func:`pick_device` gives for ``requested``.

    Known without importing torch when a device is named, or on Linux without any GPU driver;
    otherwise torch is asked.
    """
    if requested not in (None, "", "auto"):
        return str(requested).split(":")[0]
    if sys.platform.startswith("linux") and not any(Path(p).exists() for p in _GPU_DRIVER_FILES):
        return "cpu"
    return pick_device(requested).type


def bf16_supported() -> bool:
    """Whether the CUDA GPU computes in bfloat16 (Ampere and later)."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
