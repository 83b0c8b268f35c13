"""Choosing the compute device and precision.

The default is the fastest device present (CUDA, then Apple's MPS, then the CPU); ``--device``
overrides it. Mixed precision is used on GPUs only: on CPUs half precision is slower and would
change results.
"""

from __future__ import annotations

import torch

from .errors import InquireError


def pick_device(requested: str | None = None) -> torch.device:
    """The device to run models on: ``requested`` if given and present, else the best available."""
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


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype for ``device``, or None to stay in float32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None
