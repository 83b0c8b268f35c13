"""Embeddings cached on disk by (model identity, key), and a model's embeddings through that cache.

A rerun of a task with the same model must not embed again, nor even load the model. Each call to :meth:`put` writes one
shard (keys and float32 rows) atomically — temporary name, then rename — so an interrupted run
keeps every shard it finished and never leaves a half-written one. Shards of one model live in
one folder under the user's cache, named after the model and a hash of its identity.

:class:`CachedEmbeddings` puts a model behind two such caches (images and texts); the Rerank and
Fullrank tasks, the ``clip:`` reranker and anything else that needs a model's embeddings of a
few images or texts go through it. The caches key on the model's identity and the precision it
runs at (:mod:`inquire.models.precision`), so embeddings made at one precision are never served
for a run at another.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.queries import normalize_text
from ..models import create_embedder, model_key, resolve_precision
from ..models.spec import not_cached_note
from ..paths import cache_root, slug


class EmbeddingCache:
    """Embeddings of one model, looked up by key (keys are compared as strings).

    ``kind`` separates image embeddings (keyed by image id) from text embeddings (keyed by text).
    ``identity`` None (a model object without a name) keeps them in memory only, for this run.
    """

    def __init__(self, identity: str | None, kind: str = "image", root: Path | None = None):
        self.dir: Path | None = None
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        if identity is not None:
            digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
            base = root if root is not None else cache_root() / "embeddings"
            self.dir = base / f"{slug(identity.split('#')[0])[:80]}-{digest}" / kind
        if self.dir is not None and self.dir.is_dir():
            for shard in sorted(self.dir.glob("*.npz")):
                with np.load(shard, allow_pickle=False) as data:
                    self._add(data["keys"].tolist(), data["embeddings"])

    def __len__(self) -> int:
        return len(self._index)

    def _add(self, keys: Sequence[str], embeddings: np.ndarray) -> None:
        shard = len(self._shards)
        self._shards.append(embeddings)
        for row, key in enumerate(keys):
            self._index[key] = (shard, row)

    def missing(self, keys: Sequence) -> list:
        """The keys (in the given order, de-duplicated) that have no cached embedding."""
        seen: set[str] = set()
        out = []
        for key in keys:
            s = str(key)
            if s not in self._index and s not in seen:
                seen.add(s)
                out.append(key)
        return out

    def get(self, keys: Sequence) -> np.ndarray:
        """Embeddings of ``keys`` as one (n, dim) float32 array; every key must be cached."""
        locs = [self._index[str(k)] for k in keys]
        if not locs:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._shards[s][r] for s, r in locs])

    def put(self, keys: Sequence, embeddings: np.ndarray) -> None:
        """Store embeddings of ``keys`` in a new shard (no-op for an empty batch)."""
        if len(keys) == 0:
            return
        str_keys = np.asarray([str(k) for k in keys])
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if self.dir is None:
            self._add(str_keys.tolist(), embeddings)
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}"
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, keys=str_keys, embeddings=embeddings)
        tmp.replace(self.dir / f"{name}.npz")
        self._add(str_keys.tolist(), embeddings)


class CachedEmbeddings:
    """Image and text embeddings of one model, computed only for what the cache lacks.

    ``model`` is a spec or a model object (see :func:`inquire.models.create_embedder`). A spec's
    model is loaded on first need; a fully cached run never loads it (nor torch, where the device
    type is known without it: see :func:`inquire.device.device_type`). ``precision``: see
    :func:`inquire.models.resolve_precision`, for ``task``; a spec's caches are keyed by it, so
    embeddings made at one precision are never served as another's (a model object sets its own
    precision). A model object without a name has no identity: its embeddings stay in memory, and
    ``not_cached`` says so.
    """

    def __init__(self, model: str | Any, *, device: str | None, batch_size: int, workers: int | None, cache_dir: Path | None,
                 precision: str | None = None, task: str = "rerank"):
        self._model = model
        self.spec, identity = model_key(model)
        self.precision = resolve_precision(precision, self.spec, device, task) if isinstance(model, str) else None
        self.identity = f"{identity}@{self.precision}" if identity is not None and self.precision else identity
        self.not_cached = not_cached_note(self.spec) if identity is None else None
        self.images = EmbeddingCache(self.identity, "image", root=cache_dir)
        self.texts = EmbeddingCache(self.identity, "text", root=cache_dir)
        self._device, self.batch_size, self.workers = device, batch_size, workers
        self.n_images_embedded = 0

    @cached_property
    def embedder(self):
        """The model, loaded on first use (and freed with this object)."""
        return create_embedder(self._model, self._device, self.precision)

    def image_embeddings(
        self, image_ids: list, payloads: Callable[[set], object]
    ) -> tuple[dict, dict]:
        """Embeddings of ``image_ids`` and the ids that failed to decode (failures are not cached,
        so a later run tries them again). ``payloads(wanted)`` yields ``(id, bytes)`` for those ids."""
        todo = self.images.missing(image_ids)
        failed: dict = {}
        if todo:
            from .pipeline import embed_stream

            model = self.embedder
            with tqdm(total=len(todo), desc="embedding images", unit="img") as bar:
                for batch in embed_stream(
                    model.encode_images, model.image_transform, payloads(set(todo)),
                    batch_size=self.batch_size, workers=self.workers,
                    pin_memory=model.device.type == "cuda", on_batch=bar.update,
                ):
                    self.images.put(batch.keys, batch.embeddings)
                    failed.update(batch.skipped)
            self.n_images_embedded = len(todo) - len(failed)
        ok = [i for i in image_ids if i not in failed]
        return dict(zip(ok, self.images.get(ok))), failed

    def text_embeddings(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts`` (cached by normalised text)."""
        keys = [normalize_text(t) for t in texts]
        todo = self.texts.missing(keys)
        if todo:
            self.texts.put(todo, self.embedder.encode_texts(todo))
        return self.texts.get(keys)
