"""Text → ranked rows of a collection: encode, filter, search (exact or FAISS), optionally rerank.

One :class:`SearchEngine` serves every request of a server (and the one query of ``inquire
search``). It holds the text model, the memory-mapped embeddings, the columnar metadata and any
rerankers the operator allowed, each loaded once. Requests run on a thread pool; their text
encoding and first-stage search go through :class:`~inquire.serve.batching.BatchedSearch`, so
concurrent requests share one pass over the embeddings.
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
from .batching import BatchedSearch
from .config import ServeConfig
from .filters import Filters, build_mask
from .images import ImageNotFound, ImageStore
from .metadata import Metadata

if TYPE_CHECKING:
    from ..data.embedding_folder import EmbeddingFolder
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
    batch_size: int = 1  # requests whose first stage ran together with this one


class SearchEngine:
    """Search over one embedding folder with one text model."""

    def __init__(self, config: ServeConfig):
        from ..data.embedding_folder import EmbeddingFolder
        from ..models import create_embedder, resolve_spec

        self.config = config
        self.folder = EmbeddingFolder(config.embeddings)
        made_with = embedding_model(self.folder)
        spec = config.model or made_with
        if spec is None:
            raise InquireError(f"{config.embeddings} has no manifest.json naming its model: give the model that embedded it with --model.")
        if made_with and config.model and resolve_spec(made_with) != resolve_spec(config.model):
            raise InquireError(
                f"{config.embeddings} was embedded with {made_with} (manifest.json) but --model is {config.model}; "
                f"text and images must come from one model. Pass --model {made_with} (or leave --model out)."
            )
        self.embedder: Embedder = create_embedder(spec, config.device)
        if self.embedder.dim != self.folder.dim:
            raise InquireError(
                f"The embeddings in {config.embeddings} have dimension {self.folder.dim} but {self.embedder.spec} "
                f"embeds text in dimension {self.embedder.dim}: give the --model that made these embeddings."
            )
        self.meta = Metadata(pa.concat_tables([t for _, t in self.folder.iter_metadata()], promote_options="default"))
        self.index = None
        if config.index is not None:
            from ..index import load_index

            self.index = load_index(config.index, self.folder)
        self.images = ImageStore(config.images, self.folder.identity) if config.images is not None else None
        self._batched = BatchedSearch(self.encode, self._first_stage)
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._texts_lock = threading.Lock()
        self._scorers: dict[str, Scorer] = {}
        self._scorer_locks = {spec: threading.Lock() for spec in config.rerankers}
        self._scorers_lock = threading.Lock()

    @property
    def n_images(self) -> int:
        return self.meta.n_rows

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm (n, d) float32 embeddings of queries; repeated texts come from a small LRU cache."""
        with self._texts_lock:
            cached = {t: self._texts[t] for t in texts if t in self._texts}
            for t in cached:
                self._texts.move_to_end(t)
        todo = list(dict.fromkeys(t for t in texts if t not in cached))
        if todo:
            fresh = np.ascontiguousarray(self.embedder.encode_texts(todo), dtype=np.float32)
            with self._texts_lock:
                for t, emb in zip(todo, fresh):
                    cached[t] = self._texts[t] = emb
                while len(self._texts) > _TEXT_CACHE_SIZE:
                    self._texts.popitem(last=False)
        return np.stack([cached[t] for t in texts])

    def search(self, text: str, k: int, filters: Filters | None = None, *, rerank: str | None = None,
               rerank_from: int | None = None) -> Hits:
        """The top ``k`` rows for ``text`` among the rows passing ``filters``, reranked if asked."""
        t0 = time.perf_counter()
        scorer = self._scorer(rerank) if rerank is not None else None
        allowed = build_mask(self.meta, filters) if filters is not None else None
        n_allowed = self.n_images if allowed is None else int(allowed.sum())
        t1 = time.perf_counter()
        depth = min(k if scorer is None else max(k, rerank_from or DEFAULT_RERANK_FROM), n_allowed)
        if depth > 0:
            key = filters.model_dump_json(include=set(Filters.model_fields)) if allowed is not None else None
            first = self._batched(text, depth, allowed, key)
            rows, scores = first.rows, first.scores
            keep = rows >= 0  # an approximate index may find fewer than k allowed rows
            hits = Hits(rows[keep].astype(np.int64), scores[keep].astype(np.float32), n_allowed, batch_size=first.batch_size)
            timings = first.timings_ms
        else:
            hits = Hits(np.zeros(0, np.int64), np.zeros(0, np.float32), n_allowed)
            timings = {"queued": 0.0, "encode": 0.0, "search": 0.0}
        t2 = time.perf_counter()
        if scorer is not None and len(hits.rows):
            hits = self._rerank(scorer, rerank, text, hits, k)
        else:
            hits.rows, hits.scores = hits.rows[:k], hits.scores[:k]
        t3 = time.perf_counter()
        hits.timings_ms = {**timings, "filter": 1e3 * (t1 - t0), "rerank": 1e3 * (t3 - t2), "total": 1e3 * (t3 - t0)}
        return hits

    def _first_stage(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, rows) per query, from the FAISS index if there is one, else exact."""
        if self.index is not None:
            return self.index.search(queries, k, allowed=allowed)
        from ..index import exact_search

        return exact_search(queries, self.folder, k, allowed=allowed, device=self.config.device)

    def _scorer(self, spec: str) -> Scorer:
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

    def _rerank(self, scorer: Scorer, spec: str, text: str, first: Hits, k: int) -> Hits:
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
            first_stage=first.scores[order], batch_size=first.batch_size,
            rerank_errors={int(new): errors[int(old)] for new, old in enumerate(order) if int(old) in errors},
        )


def embedding_model(folder: EmbeddingFolder) -> str | None:
    """The model spec that ``inquire embed`` recorded in the folder's manifest, if any."""
    model = (folder.manifest or {}).get("model")
    spec = model.get("spec") if isinstance(model, dict) else model
    return spec if isinstance(spec, str) and spec else None
