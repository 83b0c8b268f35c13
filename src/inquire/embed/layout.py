"""The published embedding layout, written shard by shard so that no work is ever lost.

``DIR/img_emb/img_emb_<i>.npy`` (float16 rows) and ``DIR/metadata/metadata_<i>.parquet`` (one
row per embedding, same order, ``image_path`` first) hold the images of block ``i`` of the
source: items ``[i*S, (i+1)*S)`` for shard size ``S``, less the ones that could not be used.
Those are listed, with their reasons, in the shard's parquet metadata (key ``inquire.shard``),
so every shard says on its own which items it covers.

A shard is committed by writing both files under temporary names (``*.tmp``, which no reader's
``*.npy`` / ``*.parquet`` glob matches), syncing them to disk, then renaming the ``.npy`` and
then the ``.parquet``. A shard counts as done only when both exist, the parquet's record names
the same block and row counts agree; anything else is redone, so a kill at any instant (even
between the two renames) leaves nothing that a resumed run would keep by mistake.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EMB_DIR = "img_emb"
META_DIR = "metadata"
SHARD_KEY = b"inquire.shard"
TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Shard:
    """Block ``index`` of the source: items ``start`` to ``stop - 1``."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def plan_shards(n_items: int, shard_size: int) -> list[Shard]:
    return [
        Shard(i, s, min(s + shard_size, n_items))
        for i, s in enumerate(range(0, n_items, shard_size))
    ]


def emb_path(out: Path, index: int) -> Path:
    return out / EMB_DIR / f"img_emb_{index}.npy"


def meta_path(out: Path, index: int) -> Path:
    return out / META_DIR / f"metadata_{index}.parquet"


def write_shard(
    out: Path, shard: Shard, embeddings: np.ndarray, metadata: pa.Table, skipped: list[dict]
) -> None:
    """Commit one shard (see the module notes). ``skipped``: ``{index, image_path, file, reason}`` per item left out."""
    if len(embeddings) != metadata.num_rows:
        raise ValueError(
            f"shard {shard.index}: {len(embeddings)} embeddings but {metadata.num_rows} metadata rows"
        )
    if metadata.num_rows + len(skipped) != len(shard):
        raise ValueError(
            f"shard {shard.index}: rows and skipped items do not add up to {len(shard)}"
        )
    record = {
        "shard": shard.index,
        "start": shard.start,
        "stop": shard.stop,
        "rows": metadata.num_rows,
        "skipped": skipped,
    }
    schema_meta = dict(metadata.schema.metadata or {})
    schema_meta[SHARD_KEY] = json.dumps(record, ensure_ascii=False).encode()
    metadata = metadata.replace_schema_metadata(schema_meta)
    final_emb, final_meta = emb_path(out, shard.index), meta_path(out, shard.index)
    tmp_emb = final_emb.with_name(final_emb.name + TMP_SUFFIX)
    tmp_meta = final_meta.with_name(final_meta.name + TMP_SUFFIX)
    with open(tmp_emb, "wb") as f:
        np.save(f, np.ascontiguousarray(embeddings, dtype=np.float16))
        _sync(f)
    with open(tmp_meta, "wb") as f:
        pq.write_table(metadata, f)
        _sync(f)
    os.replace(tmp_emb, final_emb)
    os.replace(tmp_meta, final_meta)
    _sync_dir(final_emb.parent)
    _sync_dir(final_meta.parent)


def read_shard_record(out: Path, shard: Shard, dim: int | None = None) -> dict | None:
    """The shard's record if it is complete and consistent (see the module notes), else None."""
    emb_file, meta_file = emb_path(out, shard.index), meta_path(out, shard.index)
    if not (emb_file.is_file() and meta_file.is_file()):
        return None
    try:
        meta = pq.read_metadata(meta_file)
        record = json.loads((meta.metadata or {}).get(SHARD_KEY, b"null"))
        emb = np.load(emb_file, mmap_mode="r")
    except (OSError, ValueError, pa.ArrowException):
        return None
    if not isinstance(record, dict) or (
        record.get("shard"),
        record.get("start"),
        record.get("stop"),
    ) != (shard.index, shard.start, shard.stop):
        return None
    rows = meta.num_rows
    if (
        emb.dtype != np.float16
        or emb.ndim != 2
        or emb.shape[0] != rows
        or record.get("rows") != rows
    ):
        return None
    if dim is not None and emb.shape[1] != dim:
        return None
    if rows + len(record.get("skipped", [])) != len(shard):
        return None
    return record


def prepare_dirs(out: Path) -> None:
    """Create the layout's folders and remove temporary files a killed run left behind."""
    for sub in (EMB_DIR, META_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for tmp in (out / sub).glob(f"*{TMP_SUFFIX}"):
            tmp.unlink()


def existing_shard_files(out: Path) -> list[Path]:
    return sorted((out / EMB_DIR).glob("img_emb_*.npy")) + sorted(
        (out / META_DIR).glob("metadata_*.parquet")
    )


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
        _sync(f)
    os.replace(tmp, path)
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
