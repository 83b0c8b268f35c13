"""Turning a shard's items into its three files: embeddings, merged metadata, items.

Both engines feed :class:`ShardWriter`: the local pipeline in source order, Ray in whatever order
its blocks arrive. A shard is written as soon as every one of its items is either embedded or
skipped, in the shard's own item order, so the files never depend on arrival order. A re-run
that keeps a shard's images but drops others, or whose metadata changed, rewrites the shard from
its stored rows through the same :class:`ShardComposer`, so a shard's metadata is always the
merge of the same tiers: the sidecar table, the source, then the photo's EXIF.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..data.columns import COLUMNS, Tier, merge
from ..data.exif import EXIF_COLUMNS
from ..data.sources import IMAGE_PATH, ImageSource
from .layout import ShardFiles, write_shard

EXIF_TIER = "exif"
#: EXIF values that could not be read, listed per shard record (the manifest keeps the first ones)
EXAMPLES_PER_SHARD = 3


@dataclass
class Entry:
    """One source item of a shard: its embedding (None when skipped, with the reason) and what
    decoding recorded of it (the bytes' digest and the EXIF facts)."""

    position: int
    embedding: np.ndarray | None
    reason: str | None = None
    sha256: bytes | None = None
    exif: dict[str, Any] = field(default_factory=dict)
    exif_unreadable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def embedded(cls, position: int, embedding: np.ndarray, facts: dict) -> Entry:
        return cls(position, embedding, None, bytes.fromhex(facts["sha256"]), facts["exif"], facts["exif_unreadable"])

    @classmethod
    def from_items_row(cls, position: int, embedding: np.ndarray | None, row: dict) -> Entry:
        """An entry rebuilt from a stored items row (a kept image of a rewritten shard)."""
        exif = {c: row[f"exif_{c}"] for c in EXIF_COLUMNS if row[f"exif_{c}"] is not None}
        unreadable = json.loads(row["exif_unreadable"]) if row["exif_unreadable"] else {}
        return cls(position, embedding, row["reason"], row["sha256"], exif, unreadable)


class ShardComposer:
    """Makes a shard's files from its entries: ``tiers`` are the sidecar's (aligned with the
    source items, or None) and the source's; ``stamps`` the items' current change stamps."""

    def __init__(self, source: ImageSource, sidecar: Tier | None, stamps: np.ndarray, dim: int):
        self.source, self.sidecar, self.stamps, self.dim = source, sidecar, stamps, dim

    def compose(self, entries: Sequence[Entry]) -> tuple[np.ndarray, pa.Table, pa.Table, dict]:
        """``(embeddings, metadata, items, record)`` of a shard holding ``entries`` in this order."""
        kept = [e for e in entries if e.embedding is not None]
        rows = np.array([e.position for e in kept], dtype=np.int64)
        embeddings = np.stack([e.embedding for e in kept]) if kept else np.zeros((0, self.dim), np.float16)
        tiers = [self.source.tier(rows), _exif_tier(kept)]
        if self.sidecar is not None:
            tiers.insert(0, self.sidecar.take(rows))
        merged, stats = merge(tiers, lead=self.source.kind)
        paths = self.source.table.column(IMAGE_PATH).take(pa.array(rows))
        metadata = merged.add_column(0, IMAGE_PATH, paths)  # the EXIF tier always gives columns
        record = {
            "skipped": [
                {"image_path": self.source.image_path(e.position), "file": self.source.location(e.position),
                 "reason": e.reason}
                for e in entries if e.embedding is None
            ],
            "metadata": stats,
            "exif_unreadable": [
                {"image_path": self.source.image_path(e.position), "column": c, "reason": r}
                for e in kept for c, r in sorted(e.exif_unreadable.items())
            ][:EXAMPLES_PER_SHARD],
        }
        return embeddings, metadata, self._items(entries), record

    def write(self, files: ShardFiles, entries: Sequence[Entry]) -> None:
        write_shard(files, *self.compose(entries))

    def _items(self, entries: Sequence[Entry]) -> pa.Table:
        positions = np.array([e.position for e in entries], dtype=np.int64)
        stamps = self.stamps[positions] if len(positions) else np.zeros((0, 2), np.int64)
        columns = {
            "image_path": self.source.table.column(IMAGE_PATH).take(pa.array(positions)),
            "size": pa.array(stamps[:, 0], pa.int64()),
            "mtime_ns": pa.array(stamps[:, 1], pa.int64()),
            "sha256": pa.array([e.sha256 for e in entries], pa.binary(32)),
            "reason": pa.array([e.reason for e in entries], pa.string()),
        }
        for c in EXIF_COLUMNS:
            columns[f"exif_{c}"] = pa.array([e.exif.get(c) for e in entries], COLUMNS[c])
        columns["exif_unreadable"] = pa.array(
            [json.dumps(e.exif_unreadable, sort_keys=True) if e.exif_unreadable else None for e in entries],
            pa.string(),
        )
        return pa.table(columns)


def _exif_tier(kept: Sequence[Entry]) -> Tier:
    table = pa.table({c: pa.array([e.exif.get(c) for e in kept], COLUMNS[c]) for c in EXIF_COLUMNS})
    unreadable = {c: np.array([c in e.exif_unreadable for e in kept], dtype=bool) for c in EXIF_COLUMNS}
    return Tier(EXIF_TIER, table, unreadable)


class ShardWriter:
    """Buffers the items of the shards to embed (index → source items, in shard order) and
    commits each shard when all its items are in."""

    def __init__(self, composer: ShardComposer, files: dict[int, ShardFiles], shards: dict[int, np.ndarray]):
        self.composer, self._files = composer, files
        self._items = {i: [int(p) for p in positions] for i, positions in shards.items()}
        self._shard_of = {p: i for i, positions in self._items.items() for p in positions}
        self._entries: dict[int, dict[int, Entry]] = {}
        self.shards_written = 0

    def add(
        self,
        indices: Sequence[int],
        embeddings: np.ndarray,
        skipped: Iterable[tuple[int, str]],
        facts: Sequence[dict],
    ) -> None:
        """Take embedded items (source positions, their rows and decoding facts) and skipped
        ``(position, reason)`` pairs."""
        touched = set()
        for i, row, fact in zip(indices, embeddings, facts, strict=True):
            touched.add(self._put(Entry.embedded(int(i), row, fact)))
        for i, reason in skipped:
            touched.add(self._put(Entry(int(i), None, reason)))
        for shard in sorted(touched):
            if len(self._entries[shard]) == len(self._items[shard]):
                entries = self._entries.pop(shard)
                self.composer.write(self._files[shard], [entries[p] for p in self._items.pop(shard)])
                self.shards_written += 1

    def _put(self, entry: Entry) -> int:
        shard = self._shard_of.get(entry.position)
        if shard is None or shard not in self._items:
            raise ValueError(f"item {entry.position}, which no shard of this run holds")
        self._entries.setdefault(shard, {})[entry.position] = entry
        return shard

    @property
    def pending(self) -> list[int]:
        """Shards still waiting for items (empty once a run has delivered everything)."""
        return sorted(self._items)
