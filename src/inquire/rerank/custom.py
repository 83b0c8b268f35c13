"""Any Python object with ``score(query, images)`` as a :class:`~inquire.rerank.base.Scorer`.

A reranker of one's own (a fine-tuned vision-language model, a classifier, a rule) scores one
query against a list of decoded images and returns one number per image (numpy, torch, a list).
:func:`inquire.rerank.create_scorer` wraps such an object here, so that it goes through the score
cache, fusion and every task exactly like the built-in scorers. Its ``name`` (attribute or
``name=``) keys the score cache; without one its scores are kept for this run only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.decode import DecodeError, decode_image
from ..errors import InquireError
from ..models.custom import as_numbers
from ..models.spec import not_cached_note, object_name, object_spec
from .base import CachedScorer, Pair, ScoreResult
from .cache import ScoreCache


class CustomScorer(CachedScorer):
    """A model object's ``score(query, images)`` behind the score cache (in memory when it has no name)."""

    def __init__(self, model: Any, name: str | None = None, cache: ScoreCache | None = None) -> None:
        if not callable(getattr(model, "score", None)):
            raise InquireError(
                f"{type(model).__name__} is not a reranker inquire can use: it has no score(query, images) method "
                "returning one number per image."
            )
        named = object_name(model, name)
        super().__init__(cache if named else None)  # None: a cache in memory, for this run only
        self.model = model
        self.spec = self.identity = object_spec(model, named)
        self.not_cached = None if named else not_cached_note(self.spec)

    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        """One call per query of the chunk, with its decodable images; undecodable ones get a reason."""
        scores = np.full(len(pairs), np.nan)
        errors: dict[int, str] = {}
        by_query: dict[str, list[tuple[int, Image.Image]]] = defaultdict(list)
        for i, pair in enumerate(pairs):
            try:
                by_query[pair.query].append((i, decode_image(pair.image)))
            except DecodeError as exc:
                errors[i] = f"image {pair.image_key}: {exc}"
        for query, items in by_query.items():
            with torch.no_grad():
                out = self.model.score(query, [image for _, image in items])
            rows = [i for i, _ in items]
            scores[rows] = self._checked(out, len(rows))
        for i in np.flatnonzero(~np.isfinite(scores)):
            errors.setdefault(int(i), f"{self.spec} returned a non-finite score ({scores[i]})")
        scores[~np.isfinite(scores)] = np.nan
        return ScoreResult(scores, errors)

    def _checked(self, out: Any, n: int) -> np.ndarray:
        where = f"{self.spec}: {type(self.model).__name__}.score returned"
        arr = as_numbers(out, np.float64, where, "[n]")
        if arr.shape != (n,):
            raise InquireError(f"{where} shape {tuple(arr.shape)} for {n} image(s); return one score per image: [{n}].")
        return arr
