"""Model specs → embedders, through one factory.

A spec is ``BACKEND:NAME``: ``open_clip:ViT-B-32/openai``, ``open_clip:hf-hub:imageomics/bioclip``,
``open_clip:local-dir:PATH``, ``hf_clip:openai/clip-vit-base-patch32`` or a folder,
``wildclip:CHECKPOINT.pth``; or a short name of a model of the INQUIRE paper (``inquire models``
lists them, with the official loader each one mirrors).

Resolving a spec, computing a model's identity (:mod:`inquire.models.spec`) and choosing its
precision (:mod:`inquire.models.precision`) import no deep-learning library; :func:`create_embedder`
loads the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .precision import PRECISIONS, resolve_precision
from .registry import PAPER_MODELS, PRECISION_NOTE, ModelInfo
from .spec import BACKENDS, model_identity, resolve_spec

if TYPE_CHECKING:
    import torch

    from .base import Embedder

__all__ = [
    "BACKENDS", "PAPER_MODELS", "PRECISIONS", "PRECISION_NOTE", "ModelInfo", "create_embedder", "model_identity",
    "resolve_precision", "resolve_spec",
]


def create_embedder(spec: str, device: "str | torch.device | None" = None, precision: str | None = None) -> "Embedder":
    """Load the embedding model named by ``spec`` on ``device`` (default: the best available) at
    ``precision`` (default ``auto``: the paper's on a GPU, float32 elsewhere; see :func:`resolve_precision`)."""
    import torch

    from ..device import pick_device

    full = resolve_spec(spec)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    backend, _, name = full.partition(":")
    if backend == "open_clip":
        from .open_clip_backend import OpenClipEmbedder

        embedder: Embedder = OpenClipEmbedder(name, dev)
    elif backend == "wildclip":
        from .wildclip_backend import WildClipEmbedder

        embedder = WildClipEmbedder(name, dev)
    else:
        from .hf_backend import HFClipEmbedder

        embedder = HFClipEmbedder(name, dev)
    embedder.set_precision(resolve_precision(precision, full, str(dev)))
    return embedder
