"""Text → ranked rows of a collection: encode, filter, search (exact or FAISS), optionally rerank.

One :class:`SearchEngine` serves every request of a server (and the one query of ``inquire
search``). It holds the text model, the memory-mapped embeddings, the columnar metadata and any
rerankers the operator allowed, each loaded once. Requests run on a thread pool: numpy, FAISS and
torch release the interpreter lock while they compute, so concurrent searches overlap.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import InquireError
from .config import ServeConfig
from .filters import Filters, build_mask
from .images import ImageNotFound, ImageStore
from .metadata import Metadata

if TYPE_CHECKING:
    from ..models.base import Embedder
    from ..rerank.base import Scorer

DEFAULT_RERANK_FROM = 100
_TEXT_CACHE_SIZE = 1024


@dataclass
class Hits:
    """A ranked result: rows with scores, best first."""

    rows: np.ndarray
    scores: np.ndarray
    n_allowed: int
    first_stage: np.ndarray | None = None
    rerank_errors: dict[int, str] = field(default_factory=dict)  # position in rows -> reason
    timings_ms: dict[str, float] = field(default_factory=dict)


class SearchEngine:
    """Search over one embedding folder with one text model."""

    def __init__(self, config: ServeConfig):
        from ..data.embedding_folder import EmbeddingFolder
        from ..models import create_embedder

        self.config = config
        self.folder = EmbeddingFolder(config.embeddings)
        self.manifest: dict = self.folder.manifest or {}
        self.embedder: Embedder = create_embedder(config.model, config.device)
        if self.embedder.dim != self.folder.dim:
            raise InquireError(
                f"The embeddings in {config.embeddings} have dimension {self.folder.dim} but {self.embedder.spec} "
                f"embeds text in dimension {self.embedder.dim}: give the --model that made these embeddings"
                + (f" ({self.manifest['model']})." if self.manifest.get("model") else ".")
            )
        self.meta = Metadata(pa.concat_tables([t for _, t in self.folder.iter_metadata()], promote_options="default"))
        self.index = None
        if config.index is not None:
            from ..index import load_index

            self.index = load_index(config.index, self.folder)
        self.images = (
            ImageStore(config.images, self.folder.identity, self.manifest.get("extension"))
            if config.images is not None else None
        )
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._texts_lock = threading.Lock()
        self._scorers: dict[str, Scorer] = {}
        self._scorer_locks = {spec: threading.Lock() for spec in config.rerankers}
        self._scorers_lock = threading.Lock()

    @property
    def n_images(self) -> int:
        return self.meta.n_rows

    def encode(self, text: str) -> np.ndarray:
        """Unit-norm (1, d) float32 embedding of a query, from a small LRU cache when repeated."""
        with self._texts_lock:
            if text in self._texts:
                self._texts.move_to_end(text)
                return self._texts[text]
        emb = np.ascontiguousarray(self.embedder.encode_texts([text]), dtype=np.float32)
        with self._texts_lock:
            self._texts[text] = emb
            while len(self._texts) > _TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)
        return emb

    def search(self, text: str, k: int, filters: Filters | None = None, *, rerank: str | None = None,
               rerank_from: int | None = None) -> Hits:
        """The top ``k`` rows for ``text`` among the rows passing ``filters``, reranked if asked."""
        t0 = time.perf_counter()
        query = self.encode(text)
        t1 = time.perf_counter()
        allowed = build_mask(self.meta, filters) if filters is not None else None
        n_allowed = self.n_images if allowed is None else int(allowed.sum())
        t2 = time.perf_counter()
        depth = k if rerank is None else max(k, rerank_from or DEFAULT_RERANK_FROM)
        scorer = self._scorer(rerank) if rerank is not None else None
        rows, scores = self._first_stage(query, min(depth, n_allowed), allowed)
        t3 = time.perf_counter()
        hits = Hits(rows, scores, n_allowed)
        if scorer is not None and len(rows):
            hits = self._rerank(scorer, rerank, text, hits, k)
        else:
            hits.rows, hits.scores = rows[:k], scores[:k]
        t4 = time.perf_counter()
        hits.timings_ms = {
            "encode": 1e3 * (t1 - t0), "filter": 1e3 * (t2 - t1), "search": 1e3 * (t3 - t2),
            "rerank": 1e3 * (t4 - t3), "total": 1e3 * (t4 - t0),
        }
        return hits

    def _first_stage(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.index is not None:
            scores, rows = self.index.search(query, k, allowed=allowed)
        else:
            from ..index import exact_search

            scores, rows = exact_search(query, self.folder, k, allowed=allowed, device=self.config.device)
        rows, scores = np.asarray(rows[0], dtype=np.int64), np.asarray(scores[0], dtype=np.float32)
        keep = rows >= 0  # an approximate index may find fewer than k allowed rows
        return rows[keep], scores[keep]

    def _scorer(self, spec: str) -> "Scorer":
        if spec not in self._scorer_locks:
            allowed = ", ".join(self.config.rerankers) or "none (start the server with --rerank SPEC)"
            raise InquireError(f"Reranker {spec!r} is not enabled on this server; enabled: {allowed}.")
        if self.images is None:
            raise InquireError("Reranking needs the images: start the server with --images ROOT.")
        with self._scorers_lock:
            if spec not in self._scorers:
                from ..rerank import create_scorer

                self._scorers[spec] = create_scorer(spec, device=self.config.device)
            return self._scorers[spec]

    def _rerank(self, scorer: "Scorer", spec: str, text: str, first: Hits, k: int) -> Hits:
        """Rescore the first stage; unscorable images go last, ties keep first-stage order."""
        from ..rerank.base import Pair

        ids = self.meta.image_ids(first.rows)
        paths = self.meta.table["image_path"].take(first.rows).to_pylist()
        pairs, missing = [], {}
        for i, (image_id, path) in enumerate(zip(ids, paths)):
            try:
                pairs.append(Pair(text, image_id, self.images.file(str(path))))
            except ImageNotFound as exc:
                missing[i] = str(exc)
        with self._scorer_locks[spec]:
            result = scorer.score_pairs(pairs)
        scores = np.full(len(first.rows), np.nan)
        errors = dict(missing)
        present = [i for i in range(len(first.rows)) if i not in missing]
        scores[present] = result.scores
        errors.update({present[j]: reason for j, reason in result.errors.items()})
        order = np.lexsort((np.arange(len(scores)), -np.nan_to_num(scores, nan=-np.inf)))[:k]
        return Hits(
            rows=first.rows[order], scores=scores[order].astype(np.float32), n_allowed=first.n_allowed,
            first_stage=first.scores[order],
            rerank_errors={int(new): errors[int(old)] for new, old in enumerate(order) if int(old) in errors},
        )

