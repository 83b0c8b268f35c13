"""Model specs → embedders, through one factory.

A spec is ``BACKEND:NAME``: ``open_clip:ViT-B-32/openai``, ``open_clip:hf-hub:imageomics/bioclip``,
``open_clip:local-dir:PATH``, ``hf_clip:openai/clip-vit-base-patch32`` or a folder; or a short
name of a model of the INQUIRE paper (``inquire models`` lists them).

Resolving a spec and computing a model's identity import no deep-learning library, so a run
whose embeddings are all cached starts in well under a second.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InquireError
from .registry import PAPER_MODELS, ModelInfo

if TYPE_CHECKING:
    import torch

    from .base import Embedder

BACKENDS = ("open_clip", "hf_clip")

__all__ = ["BACKENDS", "PAPER_MODELS", "ModelInfo", "create_embedder", "model_identity", "resolve_spec"]


def resolve_spec(spec: str) -> str:
    """A short name → its full spec; a full spec is returned unchanged after validation."""
    spec = spec.strip()
    if spec in PAPER_MODELS:
        info = PAPER_MODELS[spec]
        if info.spec is None:
            raise InquireError(f"{spec}: {info.description}.")
        return info.spec
    backend, sep, name = spec.partition(":")
    if sep and backend in BACKENDS and name:
        return spec
    close = difflib.get_close_matches(spec, list(PAPER_MODELS), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise InquireError(
        f"Unknown model {spec!r}.{hint} Use a short name ({', '.join(PAPER_MODELS)}) "
        "or a spec open_clip:ARCH/TAG, open_clip:hf-hub:ORG/REPO, open_clip:local-dir:PATH, hf_clip:REPO_OR_DIR."
    )


def local_folder(spec: str) -> Path | None:
    """The folder a spec loads weights from, if it names a local one."""
    backend, _, name = resolve_spec(spec).partition(":")
    if backend == "open_clip" and name.startswith("local-dir:"):
        return Path(name.removeprefix("local-dir:"))
    if backend == "hf_clip" and Path(name).is_dir():
        return Path(name)
    return None


def model_identity(spec: str) -> str:
    """What determines a model's outputs: its spec, plus a fingerprint of a local folder's files.

    Caches key on it, so replacing the weights in a local folder never serves stale embeddings.
    """
    full = resolve_spec(spec)
    folder = local_folder(full)
    if folder is None or not folder.is_dir():
        return full
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{full}#{h.hexdigest()[:16]}"


def create_embedder(spec: str, device: "str | torch.device | None" = None) -> "Embedder":
    """Load the embedding model named by ``spec`` on ``device`` (default: the best available)."""
    import torch

    from ..device import pick_device

    full = resolve_spec(spec)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    backend, _, name = full.partition(":")
    if backend == "open_clip":
        from .open_clip_backend import OpenClipEmbedder

        return OpenClipEmbedder(name, dev)
    from .hf_backend import HFClipEmbedder

    return HFClipEmbedder(name, dev)
