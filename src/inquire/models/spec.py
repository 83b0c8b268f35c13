"""Model spec strings: what a spec names, and the identity its outputs are cached under.

Nothing here imports a deep-learning library, so resolving a spec and computing a model's
identity (what every cache keys on) cost microseconds: a run whose embeddings are all cached
starts in well under a second. A model object from Python is named ``object:NAME`` by its ``name``
(:func:`object_name`); one without a name has no identity and is never cached.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from ..errors import InquireError
from .registry import PAPER_MODELS

BACKENDS = ("open_clip", "hf_clip", "wildclip")
#: the spec of a model object from Python (:mod:`inquire.models.custom`): ``object:NAME``; it names
#: runs and keys caches, and a rerun finds its cached outputs, but only the object itself computes new ones
OBJECT_PREFIX = "object"
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
    if sep and (backend in BACKENDS or backend == OBJECT_PREFIX) and name:
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


def object_name(model: object, name: str | None) -> str | None:
    """The name that keys a model object's caches: ``name`` if given, else the object's ``name`` attribute."""
    value = name if name is not None else getattr(model, "name", None)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InquireError(
            f"The name of a model object must be a non-empty string (it keys the caches and names the run); "
            f"{type(model).__name__} gives {value!r}. Pass name='...' or set a string .name attribute."
        )
    return value.strip()


def object_spec(model: object, name: str | None) -> str:
    """``object:NAME``, or ``object:<class name>`` for an object without a name."""
    return f"{OBJECT_PREFIX}:{name or type(model).__name__}"


def not_cached_note(spec: str) -> str:
    """What a run records and prints when a model object has no name."""
    return (
        f"{spec} has no name, so nothing it computed was cached: give the object a name attribute "
        "or pass name= (one name per model: change it when the model changes) to cache its outputs."
    )
