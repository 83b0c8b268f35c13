"""The published embedding layout, written shard by shard so that no work is ever lost.

Shard ``i`` is three files: ``DIR/img_emb/img_emb_<i>.npy`` (float16 rows) and
``DIR/metadata/metadata_<i>.parquet`` (one row per embedding, same order, ``image_path`` first),
which are the published layout every reader knows, and ``DIR/items/items_<i>.parquet``, inquire's
own bookkeeping, which readers of the layout never open: one row per source item the shard
covers, embedded or skipped, with what a later run needs to tell whether the image changed
(its size and modification time, the SHA-256 of its bytes) and the values its EXIF gave (so
metadata can be merged again without decoding). The shard's record — items, rows, every skipped
item with its reason, the items file's digest and the metadata statistics — sits in the metadata
parquet's key-value metadata (key ``inquire.shard``), so every shard describes itself.

A shard is committed atomically: its three files are written under temporary names (``*.tmp``,
which no reader's ``*.npy``/``*.parquet`` glob matches) and synced, then renamed one by one.
:func:`recover` finishes a commit a kill interrupted between the renames (the temporary files
of a complete commit form a consistent shard with the ones already renamed) and deletes the
temporary files of one interrupted while writing. So after any kill each shard is either its
old version or its new one, never a mix, and one that fails its checks is simply redone.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..data.embedding_folder import ITEMS_DIR, SHARD_KEY
from ..data.exif import EXIF_COLUMNS
from ..data.columns import COLUMNS
from ..provenance import file_sha256

EMB_DIR = "img_emb"
META_DIR = "metadata"
TMP_SUFFIX = ".tmp"

#: the items file's columns: the item, its change stamp and digest, why it was skipped, its EXIF
ITEMS_SCHEMA = pa.schema(
    [
        ("image_path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("sha256", pa.binary(32)),
        ("reason", pa.string()),
        *[(f"exif_{c}", COLUMNS[c]) for c in EXIF_COLUMNS],
        ("exif_unreadable", pa.string()),
    ]
)


@dataclass(frozen=True)
class ShardFiles:
    """The three files of shard ``index`` under ``out``."""

    out: Path
    index: int

    @property
    def emb(self) -> Path:
        return self.out / EMB_DIR / f"img_emb_{self.index}.npy"

    @property
    def meta(self) -> Path:
        return self.out / META_DIR / f"metadata_{self.index}.parquet"

    @property
    def items(self) -> Path:
        return self.out / ITEMS_DIR / f"items_{self.index}.parquet"

    def all(self) -> tuple[Path, Path, Path]:
        return self.items, self.emb, self.meta  # the order of the renames

    def delete(self) -> None:
        for f in self.all():
            f.unlink(missing_ok=True)


@dataclass(frozen=True)
class StoredShard:
    """A complete, consistent shard as found on disk: its record and its items."""

    record: dict
    items: pa.Table


def tmp(path: Path) -> Path:
    return path.with_name(path.name + TMP_SUFFIX)


def write_shard(
    files: ShardFiles, embeddings: np.ndarray, metadata: pa.Table, items: pa.Table, record: dict
) -> None:
    """Commit one shard (see the module notes); ``record`` gains the counts and the items digest."""
    skipped = record.get("skipped", [])
    if len(embeddings) != metadata.num_rows or metadata.num_rows + len(skipped) != items.num_rows:
        raise ValueError(
            f"shard {files.index}: {len(embeddings)} embeddings, {metadata.num_rows} metadata rows, "
            f"{len(skipped)} skipped and {items.num_rows} items do not add up"
        )
    items_tmp, emb_tmp, meta_tmp = (tmp(f) for f in files.all())
    with open(items_tmp, "wb") as f:
        pq.write_table(items.cast(ITEMS_SCHEMA), f)
        _sync(f)
    record = {"shard": files.index, "items": items.num_rows, "rows": metadata.num_rows, **record,
              "items_sha256": file_sha256(items_tmp)}
    schema_meta = dict(metadata.schema.metadata or {})
    schema_meta[SHARD_KEY] = json.dumps(record, ensure_ascii=False).encode()
    with open(emb_tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(embeddings, dtype=np.float16))
        _sync(f)
    with open(meta_tmp, "wb") as f:
        pq.write_table(metadata.replace_schema_metadata(schema_meta), f)
        _sync(f)
    _rename_all(files)


def _rename_all(files: ShardFiles) -> None:
    for final in files.all():
        if tmp(final).exists():
            os.replace(tmp(final), final)
    for final in files.all():
        _sync_dir(final.parent)


def read_shard(files: ShardFiles, dim: int | None = None, *, candidate: bool = False) -> StoredShard | None:
    """The shard if its files are complete and agree with each other, else None.

    ``candidate``: read each file's temporary version where there is one (a commit to finish).
    """
    pick = (lambda f: tmp(f) if tmp(f).exists() else f) if candidate else (lambda f: f)
    items_file, emb_file, meta_file = (pick(f) for f in files.all())
    if not (items_file.is_file() and emb_file.is_file() and meta_file.is_file()):
        return None
    try:
        footer = pq.read_metadata(meta_file)
        record, rows = json.loads((footer.metadata or {}).get(SHARD_KEY, b"null")), footer.num_rows
        emb = np.load(emb_file, mmap_mode="r")
        if not isinstance(record, dict) or record.get("items_sha256") != file_sha256(items_file):
            return None
        items = pq.read_table(items_file)
    except (OSError, ValueError, pa.ArrowException):
        return None
    if (
        record.get("shard") != files.index
        or emb.dtype != np.float16
        or emb.ndim != 2
        or emb.shape[0] != rows
        or record.get("rows") != rows
        or (dim is not None and emb.shape[1] != dim)
        or items.schema != ITEMS_SCHEMA
        or items.num_rows != record.get("items")
        or rows + len(record.get("skipped", [])) != items.num_rows
    ):
        return None
    return StoredShard(record, items)


def read_embeddings(files: ShardFiles) -> np.ndarray:
    return np.load(files.emb, mmap_mode="r")


def recover(out: Path) -> None:
    """Finish the commits a kill interrupted between renames; delete every other temporary file."""
    for index in sorted({_number(p) for sub in (EMB_DIR, META_DIR, ITEMS_DIR)
                         for p in (out / sub).glob(f"*{TMP_SUFFIX}") if _number(p) is not None}):
        files = ShardFiles(out, index)
        if read_shard(files, candidate=True) is not None:
            _rename_all(files)
    for sub in (EMB_DIR, META_DIR, ITEMS_DIR):
        for leftover in (out / sub).glob(f"*{TMP_SUFFIX}"):
            leftover.unlink()


_NUMBER = re.compile(r"^(?:img_emb|metadata|items)_(\d+)\.(?:npy|parquet)(?:\.tmp)?$")


def _number(path: Path) -> int | None:
    m = _NUMBER.match(path.name)
    return int(m.group(1)) if m else None


def shard_numbers(out: Path) -> list[int]:
    """Numbers of the shards any of whose files exist (complete or not)."""
    return sorted({n for sub in (EMB_DIR, META_DIR, ITEMS_DIR) for p in (out / sub).glob("*")
                   if not p.name.endswith(TMP_SUFFIX) and (n := _number(p)) is not None})


def prepare_dirs(out: Path) -> None:
    for sub in (EMB_DIR, META_DIR, ITEMS_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)


def existing_shard_files(out: Path) -> list[Path]:
    return sorted((out / EMB_DIR).glob("img_emb_*.npy")) + sorted(
        (out / META_DIR).glob("metadata_*.parquet")
    )


def write_json_atomic(path: Path, data: dict) -> None:
    tmp_path = tmp(path)
    with open(tmp_path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
        _sync(f)
    os.replace(tmp_path, path)
    _sync_dir(path.parent)


def _sync(f) -> None:
    f.flush()
    os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    """Make renames in ``path`` durable (a power loss must not undo a committed shard)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory handles (Windows): renames are durable there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
