"""Embeddings cached on disk by (model identity, key).

A rerun of a task with the same model must not embed again, nor even load the model. Each call to :meth:`put` writes one
shard (keys and float32 rows) atomically — temporary name, then rename — so an interrupted run
keeps every shard it finished and never leaves a half-written one. Shards of one model live in
one folder under the user's cache, named after the model and a hash of its identity.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..paths import cache_root, slug


class EmbeddingCache:
    """Embeddings of one model, looked up by key (keys are compared as strings).

    ``kind`` separates image embeddings (keyed by image id) from text embeddings (keyed by text).
    """

    def __init__(self, identity: str, kind: str = "image", root: Path | None = None):
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        base = root if root is not None else cache_root() / "embeddings"
        self.dir = base / f"{slug(identity.split('#')[0])[:80]}-{digest}" / kind
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: list[np.ndarray] = []
        if self.dir.is_dir():
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
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}"
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, keys=str_keys, embeddings=embeddings)
        tmp.replace(self.dir / f"{name}.npz")
        self._add(str_keys.tolist(), embeddings)
