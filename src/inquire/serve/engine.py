"""A query → ranked rows of a collection: encode, filter, search (exact or FAISS), optionally rerank.

One :class:`SearchEngine` serves every request of a server (and the one query of ``inquire
search``). It holds the model, the memory-mapped embeddings, the columnar metadata and any
rerankers the operator allowed, each loaded once. A :class:`Query` is words, a row's own image
("more like this"), an uploaded photo, or a weighted mix of them, optionally refined by relevance
labels; every kind becomes one query vector (:mod:`inquire.index.feedback`) and is searched the
same way. Requests run on a thread pool; their text encoding and first-stage search go through
:class:`~inquire.serve.batching.BatchedSearch`, so concurrent requests share one pass over the
embeddings.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InquireError
from ..index.feedback import FeedbackWeights, Method, combine, refine
from .batching import BatchedSearch
from .config import ServeConfig
from .filters import Filters, build_mask
from .images import ImageNotFound, ImageStore
from .metadata import Metadata, load_table

if TYPE_CHECKING:
    from ..data.embedding_folder import EmbeddingFolder
    from ..index import FaissIndex
    from ..models.base import Embedder
    from PIL import Image

    from ..rerank.base import Scorer

DEFAULT_RERANK_FROM = 100
_TEXT_CACHE_SIZE = 1024
#: Filter masks kept for reuse (one byte per image each: 5 MB at five million images), and the parts
#: they are made of (one per filter: months, hours, box ...; see :func:`~inquire.serve.filters.build_mask`).
_MASK_CACHE_SIZE = 8
_PART_CACHE_SIZE = 16


@dataclass(frozen=True, eq=False)
class Query:
    """What to look for: words, a row's own image, an uploaded photo's embedding, or a weighted mix.

    The parts are combined as ``unit(sum(weight * unit(part)))``
    (:func:`inquire.index.feedback.combine`): with the default equal weights each pulls equally.
    ``relevant`` and ``not_relevant`` rows, with ``feedback`` set, then move that vector
    (:func:`inquire.index.feedback.refine`).
    """

    text: str | None = None
    like: int | None = None
    photo: np.ndarray | None = None
    text_weight: float = 1.0
    like_weight: float = 1.0
    photo_weight: float = 1.0
    feedback: Method | None = None
    relevant: tuple[int, ...] = ()
    not_relevant: tuple[int, ...] = ()
    feedback_weights: FeedbackWeights = field(default_factory=FeedbackWeights)

    def plain_text(self) -> bool:
        """Words only, nothing to mix in: the text itself is the batched job."""
        return self.like is None and self.photo is None and self.feedback is None


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
    feedback: dict | None = None  # how labels refined the query: method and label counts


class SearchEngine:
    """Search over one embedding folder with the model that made it (its text tower for words, its image tower for photos)."""

    def __init__(self, config: ServeConfig):
        from ..data.embedding_folder import EmbeddingFolder
        from ..models import create_embedder, model_key, resolve_spec

        self.config = config
        self.folder = EmbeddingFolder(config.embeddings)
        made_with = embedding_model(self.folder)
        spec = config.model if config.model is not None else made_with  # a spec, or a model object (Python)
        if spec is None:
            raise InquireError(f"{config.embeddings} has no manifest.json naming its model: give the model that embedded it with --model.")
        given = model_key(config.model)[0] if config.model is not None else None
        if made_with and given and resolve_spec(made_with) != given:
            raise InquireError(
                f"{config.embeddings} was embedded with {made_with} (manifest.json) but --model is {given}; "
                f"text and images must come from one model. Pass --model {made_with} (or leave --model out)."
            )
        # The metadata and the index load (mostly in Arrow and FAISS, without the GIL) while the
        # model is imported and built (mostly Python): start-up takes the longer of the two, not the sum.
        with ThreadPoolExecutor(1, thread_name_prefix="inquire-load") as pool:
            collection = pool.submit(self._load_collection)
            self.embedder: Embedder = create_embedder(spec, config.device)
            self.text_runtime = (
                self.embedder.accelerate_text() if config.text_runtime == "auto" else "torch (--text-runtime torch)"
            )
            if self.embedder.dim != self.folder.dim:  # said once the collection has loaded: the pool waits for it
                raise InquireError(
                    f"The embeddings in {config.embeddings} have dimension {self.folder.dim} but {self.embedder.spec} "
                    f"embeds text in dimension {self.embedder.dim}: give the --model that made these embeddings."
                )
            self.meta, self.index = collection.result()
        self.images = ImageStore(config.images, self.folder.identity) if config.images is not None else None
        self._batched = BatchedSearch(self.encode, self._first_stage)
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._texts_lock = threading.Lock()
        self._scorers: dict[str, Scorer] = {}
        self._scorer_locks = {spec: threading.Lock() for spec in config.rerankers}
        self._scorers_lock = threading.Lock()
        self._masks: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        self._parts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._masks_lock = threading.Lock()

    def close(self) -> None:
        """Stop the search thread (``inquire.search`` closes its engine; a server's lives with the process)."""
        self._batched.close()

    def _load_collection(self) -> tuple[Metadata, FaissIndex | None]:
        meta = Metadata(load_table(self.folder))
        if self.config.index is None:
            return meta, None
        from ..index import load_index

        return meta, load_index(self.config.index, self.folder)

    @property
    def n_images(self) -> int:
        return self.meta.n_rows

    def check_row(self, row: int) -> int:
        if not 0 <= row < self.n_images:
            raise InquireError(f"No image at row {row}: the collection has rows 0 to {self.n_images - 1}.")
        return int(row)

    def embed_photo(self, image: Image.Image) -> np.ndarray:
        """The unit embedding of a decoded photo, by the model's image tower (its own preprocessing)."""
        return np.ascontiguousarray(self.embedder.encode_pil([image])[0], dtype=np.float32)

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

    def search(self, query: Query | str, k: int, filters: Filters | None = None, *, rerank: str | None = None,
               rerank_from: int | None = None) -> Hits:
        """The top ``k`` rows for ``query`` among the rows passing ``filters``, reranked if asked."""
        t0 = time.perf_counter()
        q = Query(text=query) if isinstance(query, str) else query
        if q.text is None and q.like is None and q.photo is None:
            raise InquireError("Give something to search for: words (q), a row to find more like (like), or a photo.")
        if rerank is not None and q.text is None:
            raise InquireError("Reranking scores images against words: give a text query (q) with rerank.")
        scorer = self._scorer(rerank) if rerank is not None else None
        vector, feedback, prepare_ms = (None, None, {}) if q.plain_text() else self._vector(q)
        t_filter = time.perf_counter()
        allowed, n_allowed, key = self._mask(filters)
        t1 = time.perf_counter()
        depth = min(k if scorer is None else max(k, rerank_from or DEFAULT_RERANK_FROM), n_allowed)
        if depth > 0:
            first = self._batched(q.text if vector is None else vector, depth, allowed, key)
            rows, scores = first.rows, first.scores
            keep = rows >= 0  # an approximate index may find fewer than k allowed rows
            hits = Hits(rows[keep].astype(np.int64), scores[keep].astype(np.float32), n_allowed, batch_size=first.batch_size)
            timings = first.timings_ms
        else:
            hits = Hits(np.zeros(0, np.int64), np.zeros(0, np.float32), n_allowed)
            timings = {"queued": 0.0, "encode": 0.0, "search": 0.0}
        t2 = time.perf_counter()
        if scorer is not None and len(hits.rows):
            hits = self._rerank(scorer, rerank, q.text, hits, k)
        else:
            hits.rows, hits.scores = hits.rows[:k], hits.scores[:k]
        t3 = time.perf_counter()
        timings = {**timings, **prepare_ms}  # a prepared vector's text encoding ran here, not in the batch
        hits.feedback = feedback
        hits.timings_ms = {**timings, "filter": 1e3 * (t1 - t_filter), "rerank": 1e3 * (t3 - t2),
                           "total": 1e3 * (t3 - t0)}
        return hits

    def _vector(self, q: Query) -> tuple[np.ndarray, dict | None, dict[str, float]]:
        """The query vector of a mixed or refined query, how labels moved it, and the time spent."""
        t0 = time.perf_counter()
        parts = []
        if q.text is not None:
            parts.append((self.encode([q.text])[0], q.text_weight))
        t1 = time.perf_counter()
        if q.like is not None:
            parts.append((self.folder.embeddings(np.asarray([self.check_row(q.like)]))[0], q.like_weight))
        if q.photo is not None:
            parts.append((q.photo, q.photo_weight))
        try:
            vector = combine(parts)
        except ValueError as exc:
            raise InquireError(
                f"Cannot build the query: {exc}. Check its weights: text_weight, like_weight, photo_weight in the API; "
                "--text-weight, --like-weight, --image-weight on the command line."
            ) from None
        feedback = None
        if q.feedback is not None:
            rel = self.folder.embeddings(np.asarray(q.relevant, dtype=np.int64))
            non = self.folder.embeddings(np.asarray(q.not_relevant, dtype=np.int64))
            refined = refine(vector, rel, non, q.feedback, q.feedback_weights)
            vector = refined.vector
            feedback = {"method": refined.method, "n_relevant": refined.n_relevant, "n_not_relevant": refined.n_not_relevant}
        return vector, feedback, {"encode": 1e3 * (t1 - t0), "prepare": 1e3 * (time.perf_counter() - t1)}

    def _mask(self, filters: Filters | None) -> tuple[np.ndarray | None, int, str | None]:
        """The rows passing ``filters``, their count and the filter's key (None: every row); the last
        few masks are kept, as a user refines one search."""
        if filters is None or not filters.active():
            return None, self.n_images, None
        key = filters.model_dump_json(include=set(Filters.model_fields))
        with self._masks_lock:
            if key in self._masks:
                self._masks.move_to_end(key)
                return (*self._masks[key], key)
        mask = build_mask(self.meta, filters, self._part)
        mask.flags.writeable = False  # shared by every request with this filter
        entry = (mask, int(np.count_nonzero(mask)))
        with self._masks_lock:
            self._masks[key] = entry
            while len(self._masks) > _MASK_CACHE_SIZE:
                self._masks.popitem(last=False)
        return (*entry, key)

    def _part(self, key: str, compute) -> np.ndarray:
        """One filter's rows, kept while recent: a new box over the same months costs only the box."""
        with self._masks_lock:
            if key in self._parts:
                self._parts.move_to_end(key)
                return self._parts[key]
        part = compute()
        part.flags.writeable = False
        with self._masks_lock:
            self._parts[key] = part
            while len(self._parts) > _PART_CACHE_SIZE:
                self._parts.popitem(last=False)
        return part

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
        paths = self.meta.take(first.rows, ["image_path"]).column(0).to_pylist()
        keys = [digest or image_id for digest, image_id in zip(self.folder.content_keys(first.rows), ids)]
        pairs, missing = [], {}
        for i, (key, path) in enumerate(zip(keys, paths)):
            try:
                pairs.append(Pair(text, key, self.images.file(str(path))))
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
