"""CLIP-style embedding models as rerankers: the cosine of the query's and the image's embeddings.

This puts the embedding models of ``inquire rerank`` behind the same :class:`Scorer` interface
as vision-language models, so fusion and two-stage Fullrank treat them alike. Embeddings come
from the embedding cache (the model is loaded only for what it lacks); image decoding overlaps
the model through the embedding pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embed.cache import CachedEmbeddings
from .base import CachedScorer, Pair, ScoreResult
from .cache import ScoreCache


class ClipScorer(CachedScorer):
    """Cosine similarity of unit-norm text and image embeddings of one embedding model."""

    chunk_size = 4096  # embedding is cheap per pair; large chunks keep the pipeline's batches full

    def __init__(
        self, model: str | Any, *, device: str | None = None, batch_size: int = 64, workers: int | None = None,
        embedding_cache_dir: Path | None = None, precision: str | None = None, cache: ScoreCache | None = None,
    ) -> None:
        """``model``: an embedding spec or model object; one without a name scores into memory only.
        A spec's scores are keyed by its precision (:func:`inquire.models.resolve_precision`)."""
        self._embeddings = CachedEmbeddings(
            model, device=device, batch_size=batch_size, workers=workers, cache_dir=embedding_cache_dir,
            precision=precision,
        )
        self.not_cached = self._embeddings.not_cached
        super().__init__(cache if self.not_cached is None else None)
        self.model_spec = self._embeddings.spec
        self.spec = f"clip:{self.model_spec}"
        self.identity = f"clip:{self._embeddings.identity or self.model_spec}"

    def report(self) -> dict:
        return {"precision": self._embeddings.precision}

    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        payloads = {p.image_key: p.image for p in pairs}
        image_emb, failed = self._embeddings.image_embeddings(
            list(payloads), lambda wanted: ((k, v) for k, v in payloads.items() if k in wanted)
        )
        queries = list(dict.fromkeys(p.query for p in pairs))
        text_emb = dict(zip(queries, self._embeddings.text_embeddings(queries)))
        scores = np.full(len(pairs), np.nan)
        errors: dict[int, str] = {}
        for i, p in enumerate(pairs):
            if p.image_key in failed:
                errors[i] = f"image {p.image_key}: {failed[p.image_key]}"
            else:
                scores[i] = float(np.dot(image_emb[p.image_key].astype(np.float64), text_emb[p.query].astype(np.float64)))
        return ScoreResult(scores, errors)
