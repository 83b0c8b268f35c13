"""Collecting embedded items into shards and committing each shard once all its items are in.

Both engines feed the same writer: the local pipeline in source order, Ray in whatever order its
blocks arrive. A shard is written as soon as every one of its items is either embedded or
skipped, with rows sorted by source position, so the files never depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..data.sources import ImageSource
from .layout import Shard, write_shard


class ShardWriter:
    """Buffers the shards in ``todo`` and commits each when complete."""

    def __init__(
        self, out: Path, source: ImageSource, todo: Sequence[Shard], shard_size: int, dim: int
    ):
        self.out, self.source, self.shard_size, self.dim = out, source, shard_size, dim
        self._todo = {s.index: s for s in todo}
        self._rows: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._skipped: dict[int, list[tuple[int, str]]] = {}
        self.shards_written = 0

    def add(
        self, indices: Sequence[int], embeddings: np.ndarray, skipped: Iterable[tuple[int, str]]
    ) -> None:
        """Take embedded items (source positions and their rows) and skipped ``(position, reason)`` pairs."""
        touched = set()
        for i, row in zip(indices, embeddings, strict=True):
            shard = int(i) // self.shard_size
            self._rows.setdefault(shard, []).append((int(i), row))
            touched.add(shard)
        for i, reason in skipped:
            shard = int(i) // self.shard_size
            self._skipped.setdefault(shard, []).append((int(i), reason))
            touched.add(shard)
        for shard in sorted(touched):
            self._commit_if_complete(shard)

    @property
    def pending(self) -> list[int]:
        """Shards still waiting for items (empty once a run has delivered everything)."""
        return sorted(self._todo)

    def _commit_if_complete(self, index: int) -> None:
        shard = self._todo.get(index)
        if shard is None:
            raise ValueError(f"items of shard {index}, which this run does not write")
        rows = sorted(self._rows.get(index, []), key=lambda r: r[0])
        skipped = sorted(self._skipped.get(index, []))
        if len(rows) + len(skipped) < len(shard):
            return
        positions = [i for i, _ in rows]
        embeddings = (
            np.stack([r for _, r in rows]) if rows else np.zeros((0, self.dim), dtype=np.float32)
        )
        skipped_records = [
            {"index": i, "image_path": self.source.image_path(i), "file": self.source.location(i), "reason": reason}
            for i, reason in skipped
        ]
        write_shard(self.out, shard, embeddings, self.source.metadata(positions), skipped_records)
        del self._todo[index]
        self._rows.pop(index, None)
        self._skipped.pop(index, None)
        self.shards_written += 1
