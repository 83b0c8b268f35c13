"""Model specs → embedders, through one factory.

A spec is ``BACKEND:NAME``: ``open_clip:ViT-B-32/openai``, ``open_clip:hf-hub:imageomics/bioclip``,
``open_clip:local-dir:PATH``, ``hf_clip:openai/clip-vit-base-patch32`` or a folder,
``wildclip:CHECKPOINT.pth``; or a short name of a model of the INQUIRE paper (``inquire models``
lists them, with the official loader each one mirrors). From Python, a model object works wherever a
spec does: anything with ``encode_images`` and ``encode_texts`` (:mod:`inquire.models.custom`).

Resolving a spec, computing a model's identity (:mod:`inquire.models.spec`) and choosing its
precision (:mod:`inquire.models.precision`) import no deep-learning library; :func:`create_embedder`
loads the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InquireError
from .precision import PRECISIONS, resolve_precision
from .registry import PAPER_MODELS, PRECISION_NOTE, ModelInfo
from .spec import BACKENDS, OBJECT_PREFIX, model_identity, resolve_spec

if TYPE_CHECKING:
    import torch

    from .base import Embedder

__all__ = [
    "BACKENDS", "PAPER_MODELS", "PRECISIONS", "PRECISION_NOTE", "ModelInfo", "create_embedder", "model_identity",
    "model_key", "resolve_precision", "resolve_spec",
]


def create_embedder(
    model: "str | Any", device: "str | torch.device | None" = None, precision: str | None = None, *, name: str | None = None,
) -> "Embedder":
    """The embedding model ``model`` names, loaded on ``device`` (default: the best available) at
    ``precision`` (default ``auto``: the paper's on a GPU, float32 elsewhere; see :func:`resolve_precision`).

    ``model`` is a spec string, an :class:`~inquire.models.base.Embedder` (returned as it is), or
    any object with ``encode_images(list of PIL images)`` and ``encode_texts(list of str)``
    returning ``[n, d]`` numbers, wrapped so that its outputs are checked and normalised; such an
    object places itself and sets its own precision (``device`` and ``precision`` do not apply) and
    ``name`` (else its ``name`` attribute) keys the caches. Example::

        embedder = inquire.create_embedder("open_clip:ViT-B-32/openai")
        embedder = inquire.create_embedder(MyModel(), name="my-model-v1")
    """
    if not isinstance(model, str):
        from .base import Embedder
        from .custom import CustomEmbedder

        if isinstance(model, Embedder) and name is None:
            return model
        if isinstance(model, Embedder):
            raise InquireError(f"name= names a model object; {model.spec} is already named by its spec.")
        return CustomEmbedder(model, name)
    if name is not None:
        raise InquireError(f"name= names a model object; the spec {model!r} names its model itself.")
    full = resolve_spec(model)
    backend, _, rest = full.partition(":")
    if backend == OBJECT_PREFIX:
        raise InquireError(
            f"{full} names a model object from Python, which only the object itself can run: pass the object "
            "(inquire.evaluate_rerank(model, ...), inquire.search(..., model=model)), not its spec."
        )
    import torch

    from ..device import pick_device

    dev = device if isinstance(device, torch.device) else pick_device(device)
    if backend == "open_clip":
        from .open_clip_backend import OpenClipEmbedder

        embedder: Embedder = OpenClipEmbedder(rest, dev)
    elif backend == "wildclip":
        from .wildclip_backend import WildClipEmbedder

        embedder = WildClipEmbedder(rest, dev)
    else:
        from .hf_backend import HFClipEmbedder

        embedder = HFClipEmbedder(rest, dev)
    embedder.set_precision(resolve_precision(precision, full, str(dev)))
    return embedder


def model_key(model: "str | Any") -> tuple[str, str | None]:
    """``(spec, identity)`` of a spec string or a model object, loading no model.

    The spec names runs and manifests; the identity keys the caches (None for a model object
    without a name: nothing of it is cached).
    """
    if isinstance(model, str):
        return resolve_spec(model), model_identity(model)
    embedder = create_embedder(model)
    return embedder.spec, embedder.identity
