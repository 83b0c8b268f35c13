"""Model spec strings: what a spec names, and the identity its outputs are cached under.

Nothing here imports a deep-learning library, so resolving a spec and computing a model's
identity (what every cache keys on) cost microseconds: a run whose embeddings are all cached
starts in well under a second.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from ..errors import InquireError
from .registry import PAPER_MODELS

BACKENDS = ("open_clip", "hf_clip", "wildclip")
#: a backend's outputs changed for the same weights: hf_clip images go through the PIL processor
#: (the paper's) since transformers 5 made a torchvision one the default; caches made before miss
_OUTPUT_REVISION = {"hf_clip": "pil"}


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
        "or a spec open_clip:ARCH/TAG, open_clip:hf-hub:ORG/REPO, open_clip:local-dir:PATH, hf_clip:REPO_OR_DIR, "
        "wildclip:CHECKPOINT.pth."
    )


def local_weights(spec: str) -> Path | None:
    """The folder or file a spec loads weights from, if it names a local one."""
    backend, _, name = resolve_spec(spec).partition(":")
    if backend == "open_clip" and name.startswith("local-dir:"):
        return Path(name.removeprefix("local-dir:"))
    if (backend == "hf_clip" and Path(name).is_dir()) or backend == "wildclip":
        return Path(name)
    return None


def model_identity(spec: str) -> str:
    """What determines a model's outputs: its spec, plus a fingerprint of its local files.

    Caches key on it, so replacing the weights in a local folder or file never serves stale embeddings.
    """
    full = resolve_spec(spec)
    revision = _OUTPUT_REVISION.get(full.partition(":")[0])
    named = f"{full}#{revision}" if revision else full
    weights = local_weights(full)
    if weights is None or not weights.exists():
        return named
    h = hashlib.sha256()
    files = [weights] if weights.is_file() else sorted(p for p in weights.rglob("*") if p.is_file())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(weights)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{named}#{h.hexdigest()[:16]}"
