"""Where inquire keeps its caches.

Everything cached (downloaded query lists, image embeddings, scores) lives under one root so a
user can move or delete it in one place: ``$INQUIRE_CACHE_DIR`` if set, else the platform's
user cache directory (``~/.cache/inquire`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_root() -> Path:
    """The root of every inquire cache, created on first use."""
    root = Path(os.environ.get("INQUIRE_CACHE_DIR") or platformdirs.user_cache_dir("inquire"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def slug(text: str) -> str:
    """A file-name-safe rendering of a spec or name (``open_clip:ViT-B-32/openai`` → ``open_clip-ViT-B-32-openai``)."""
    keep = [c if c.isalnum() or c in "-_." else "-" for c in text]
    out = "".join(keep).strip("-.")
    while "--" in out:
        out = out.replace("--", "-")
    return out or "unnamed"
