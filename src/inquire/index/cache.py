"""First-stage top lists cached by (model, embeddings folder, index and search parameters, depth, query).

A two-stage run spends its time in the reranker; the first stage should not be searched again
when only the reranker changes. Each run's new lists are written as one ``.npz`` shard
(atomically: temporary name, then rename) in a folder named after everything the lists depend
on, keyed inside by the normalised query text.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..paths import cache_root


class TopListCache:
    """Cached ``(scores, rows)`` lists of one search setting, looked up by query text."""

    def __init__(self, *, model: str, folder: str, search: str, depth: int, root: Path | None = None):
        key = "\n".join([model, folder, search, str(depth)])
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self.dir = (root if root is not None else cache_root()) / "toplists" / digest
        self._lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.dir.is_dir():
            for shard in sorted(self.dir.glob("*.npz")):
                with np.load(shard, allow_pickle=False) as data:
                    for i, text in enumerate(data["keys"].tolist()):
                        self._lists[text] = (data["scores"][i], data["rows"][i])

    def missing(self, keys: Sequence[str]) -> list[str]:
        return [k for k in dict.fromkeys(keys) if k not in self._lists]

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked lists of ``keys`` (all cached, all of the same width)."""
        pairs = [self._lists[k] for k in keys]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def put(self, keys: Sequence[str], scores: np.ndarray, rows: np.ndarray) -> None:
        if not len(keys):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}"
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, keys=np.asarray(list(keys)), scores=scores, rows=rows)
        tmp.replace(self.dir / f"{name}.npz")
        for i, k in enumerate(keys):
            self._lists[k] = (scores[i], rows[i])
