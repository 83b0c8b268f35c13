"""Any Python object with ``encode_images`` and ``encode_texts`` as an :class:`Embedder`.

A researcher's own model is rarely an open_clip or transformers checkpoint, so the one factory
(:func:`inquire.models.create_embedder`) also takes an object: ``encode_images(images:
list[PIL.Image.Image])`` and ``encode_texts(texts: list[str])``, each returning ``[n, d]`` numbers
(numpy, torch, lists). The object does its own preprocessing, so decoding workers hand it RGB PIL
images as they are; its outputs are checked (shape, finite, one width for images and texts) and
normalised here, so everything downstream sees what every backend gives.

Caches key on the object's ``name`` (its attribute, or the ``name=`` argument): the user vouches
that one name means one model. An object without a name is never cached, and runs say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import InquireError
from .base import Embedder
from .spec import object_name, object_spec

METHODS = ("encode_images", "encode_texts")


def as_numbers(out: Any, dtype: type, where: str, shape: str) -> np.ndarray:
    """What a model object returned (torch, numpy, lists) as a numpy array of ``dtype``, or an
    error that says what it was; ``where`` begins the message, ``shape`` names what is expected."""
    if isinstance(out, torch.Tensor):
        out = out.detach().to(torch.float64).cpu().numpy()  # via float64: half and bfloat16 too
    try:
        return np.asarray(out, dtype=dtype)
    except (TypeError, ValueError):
        raise InquireError(f"{where} {type(out).__name__}, not an array of numbers; return {shape} numbers (numpy or torch).") from None


class PassImages:
    """The "preprocessing" of a model object: the decoded RGB image itself (the object preprocesses).

    A class, not a function, so that it pickles into decoding workers and reads the same in
    ``manifest.json`` on every run.
    """

    def __call__(self, image: Image.Image) -> Image.Image:
        return image

    def __repr__(self) -> str:
        return "the model object's own (PIL images passed as decoded, RGB)"


class CustomEmbedder(Embedder):
    """A model object behind the :class:`Embedder` interface; ``identity`` is None when it has no name."""

    def __init__(self, model: Any, name: str | None = None):
        missing = [m for m in METHODS if not callable(getattr(model, m, None))]
        if missing:
            raise InquireError(
                f"{type(model).__name__} is not a model inquire can use: it lacks {' and '.join(missing)}. "
                "Give a spec string (`inquire models`), or an object with encode_images(list of PIL images) "
                "and encode_texts(list of str), each returning [n, d] numbers; a reranker object has "
                "score(query, list of PIL images) returning [n] numbers."
            )
        self.model = model
        named = object_name(model, name)
        self.spec = object_spec(model, named)
        self._identity = self.spec if named else None
        # the object places itself; inquire hands it host-side PIL images
        self.device = torch.device("cpu")
        self._width: int | None = None

    @property
    def identity(self) -> str | None:  # type: ignore[override]
        return self._identity

    @property
    def image_transform(self) -> PassImages:
        return PassImages()

    def _encode_images(self, images: list[Image.Image]) -> Any:
        with torch.no_grad():  # a torch model must not record gradients over a whole collection
            return self.model.encode_images(images)

    def _encode_texts(self, texts: list[str]) -> Any:
        with torch.no_grad():
            return self.model.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:  # type: ignore[override]
        """Unit-norm float32 embeddings of decoded images (the object preprocesses them)."""
        images = list(images)
        return self._checked(self._encode_images(images), "encode_images", len(images))

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        chunks = [
            self._checked(self._encode_texts(list(texts[i : i + batch_size])), "encode_texts", len(texts[i : i + batch_size]))
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)

    def _checked(self, out: Any, method: str, n: int) -> np.ndarray:
        """``out`` as unit-norm float32 [n, d], or an error that says what the object returned."""
        where = f"{self.spec}: {type(self.model).__name__}.{method} returned"
        arr = as_numbers(out, np.float32, where, "[n, d]")
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
            raise InquireError(f"{where} shape {tuple(arr.shape)} for {n} input(s); return one row per input: [{n}, d].")
        if self._width is not None and arr.shape[1] != self._width:
            raise InquireError(
                f"{where} {arr.shape[1]}-d rows after {self._width}-d ones: images and texts must be embedded "
                "into one space of one width."
            )
        self._width = arr.shape[1]
        bad = ~np.isfinite(arr).all(axis=1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        bad |= norms[:, 0] == 0
        if bad.any():
            raise InquireError(f"{where} a zero, NaN or infinite row for input(s) {np.flatnonzero(bad)[:10].tolist()}; every row must be a usable vector.")
        return arr / norms
