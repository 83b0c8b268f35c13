"""The published embedding layout of INQUIRE (and of ``inquire embed``), opened without loading it.

A folder holds ``img_emb/img_emb_<i>.npy`` (float16 or float32 rows; shard ``i`` in numeric order)
and ``metadata/metadata_<i>.parquet`` (one row per embedding, same order, with ``image_path``
given without its ``.jpg``), plus an optional ``manifest.json`` that ``inquire embed`` writes.
Global row ``r`` is the ``r``-th row of the shards concatenated in numeric order; every search
in the project returns such row ids.

Five million 768-d rows are 7.7 GB in float16, so shards are memory maps: the operating system
pages rows in as a search streams over them, and only the block being scored is ever converted to
float32. Everything that can be checked without reading the rows is checked on opening, because a
missing shard or a metadata file of the wrong length would silently shift every image path.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InquireError

SHARD_RE = re.compile(r"^img_emb_(\d+)\.npy$")
META_RE = re.compile(r"^metadata_(\d+)\.parquet$")
DTYPES = (np.dtype(np.float16), np.dtype(np.float32))
PATH_COLUMN = "image_path"
#: key of a metadata file's key-value metadata where ``inquire embed`` records what the shard covers
SHARD_KEY = b"inquire.shard"
#: ``inquire embed``'s per-shard bookkeeping, ``items/items_<i>.parquet``: each item's SHA-256 and why it
#: was skipped (published-layout readers never open it)
ITEMS_DIR = "items"


class EmbeddingFolder:
    """A validated, memory-mapped embedding folder in the published layout.

    Attributes: ``path``; ``dim``; ``dtype`` (float16 or float32); ``n_rows``; ``manifest`` (the
    parsed ``manifest.json`` or None); ``shards`` (read-only memory maps, one per shard);
    ``offsets`` (global row id of each shard's first row, plus ``n_rows`` at the end).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise InquireError(
                f"Embedding folder {self.path} does not exist. Pass the folder that holds img_emb/ and "
                "metadata/ (the published INQUIRE embeddings, or what `inquire embed` wrote)."
            )
        shard_files = _numbered(self.path / "img_emb", SHARD_RE, "img_emb_<i>.npy")
        meta_files = _numbered(self.path / "metadata", META_RE, "metadata_<i>.parquet")
        _check_pairs(self.path, shard_files, meta_files)
        self.shard_files = [shard_files[i] for i in sorted(shard_files)]
        self.meta_files = [meta_files[i] for i in sorted(meta_files)]
        self._digest_cache: dict[int, list[str] | None] = {}
        self.shards = [_open_shard(f) for f in self.shard_files]
        self._check_shapes()
        self.dim = int(self.shards[0].shape[1])
        self.dtype = self.shards[0].dtype
        sizes = [s.shape[0] for s in self.shards]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        self.manifest = self._read_manifest()

    def __repr__(self) -> str:
        return f"EmbeddingFolder({str(self.path)!r}, n_rows={self.n_rows}, dim={self.dim}, dtype={self.dtype})"

    def _check_shapes(self) -> None:
        first = self.shards[0]
        for f, shard in zip(self.shard_files, self.shards):
            if shard.ndim != 2 or shard.dtype not in DTYPES:
                raise InquireError(
                    f"{f}: expected a 2-D float16 or float32 array (rows x dim), found shape {shard.shape} "
                    f"dtype {shard.dtype}. Re-create the shard with `inquire embed`."
                )
            if shard.shape[1] != first.shape[1] or shard.dtype != first.dtype:
                raise InquireError(
                    f"{f} holds {shard.shape[1]}-d {shard.dtype} rows but {self.shard_files[0].name} holds "
                    f"{first.shape[1]}-d {first.dtype} rows: all shards of a folder must come from one model "
                    "and one dtype. Keep one model's shards per folder."
                )
        for f, m, shard in zip(self.shard_files, self.meta_files, self.shards):
            try:
                meta = pq.ParquetFile(m)
            except (OSError, pa.ArrowException) as exc:
                raise InquireError(f"Could not read metadata file {m}: {exc}. Re-create it.") from None
            if PATH_COLUMN not in meta.schema_arrow.names:
                raise InquireError(
                    f"Metadata file {m} has no {PATH_COLUMN!r} column (it has {', '.join(meta.schema_arrow.names)}); "
                    "the published layout names each row's image there."
                )
            if meta.metadata.num_rows != shard.shape[0]:
                raise InquireError(
                    f"Metadata file {m} has {meta.metadata.num_rows} rows but {f.name} has {shard.shape[0]} "
                    "embeddings: each metadata row must describe the embedding at the same position. "
                    "The folder is incomplete or mixed; re-run `inquire embed` to finish it."
                )

    def _read_manifest(self) -> dict | None:
        f = self.path / "manifest.json"
        if not f.is_file():
            return None
        try:
            manifest = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            raise InquireError(f"Could not read {f}: {exc}. Fix or remove the manifest.") from None
        if not isinstance(manifest, dict):
            raise InquireError(f"{f} must hold a JSON object.")
        model = manifest.get("model")
        dim = model.get("dim") if isinstance(model, dict) else None
        if isinstance(dim, int) and dim != self.dim:
            raise InquireError(f"{f} says dim {dim} but the shards hold {self.dim}-d rows; the folder is mixed.")
        return manifest

    @property
    def identity(self) -> str:
        """What the folder's contents depend on: each shard's name, size and modification time.

        Caches of search results key on it, so re-embedding into the folder invalidates them.
        """
        h = hashlib.sha256(str(self.path.resolve()).encode())
        for f in [*self.shard_files, *self.meta_files]:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        return h.hexdigest()[:16]

    @cached_property
    def records(self) -> list[dict | None]:
        """Each shard's record from ``inquire embed`` (items, rows, skipped items, digest), None for
        shards of other origin (the published embeddings)."""
        out = []
        for f in self.meta_files:
            raw = (pq.read_metadata(f).metadata or {}).get(SHARD_KEY)
            try:
                record = json.loads(raw) if raw else None
            except ValueError:
                record = None
            out.append(record if isinstance(record, dict) else None)
        return out

    def shard_of(self, rows: np.ndarray) -> np.ndarray:
        """The shard index of each global row id."""
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def check_rows(self, rows: np.ndarray, what: str = "rows") -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise InquireError(f"{what} must lie in [0, {self.n_rows}) for {self.path}; got {rows.min()}..{rows.max()}.")
        return rows

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        """The embeddings of global ``rows`` (any order, repeats allowed) as float32, shape (len(rows), dim)."""
        rows = self.check_rows(rows).reshape(-1)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        shard = self.shard_of(rows)
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            local = rows[where] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # ascending reads are kinder to the page cache
            out[where[order]] = self.shards[s][local[order]]
        return out

    def iter_metadata(self, columns: list[str] | None = None) -> Iterator[tuple[int, pa.Table]]:
        """``(first global row, table)`` per shard, reading only ``columns``: memory stays per shard."""
        for offset, f in zip(self.offsets[:-1], self.meta_files):
            yield int(offset), self._read_meta(f, columns)

    def metadata(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All metadata rows in global row order (only ``columns`` when given)."""
        tables = [table for _, table in self.iter_metadata(columns)]
        filled = [t for t in tables if t.num_rows] or tables[:1]  # an empty shard's column types are moot
        return pa.concat_tables(filled, promote_options="permissive").to_pandas()

    def metadata_rows(self, rows: np.ndarray, columns: list[str] | None = None) -> pd.DataFrame:
        """Metadata of global ``rows`` in the given order (a search result's rows, say)."""
        rows = self.check_rows(rows).reshape(-1)
        shard = self.shard_of(rows)
        parts, where_all = [], []
        for s in np.unique(shard):
            where = np.flatnonzero(shard == s)
            table = self._read_meta(self.meta_files[s], columns)
            parts.append(table.take(pa.array(rows[where] - self.offsets[s])))
            where_all.append(where)
        if not parts:
            return self._read_meta(self.meta_files[0], columns).slice(0, 0).to_pandas()
        df = pa.concat_tables(parts, promote_options="permissive").to_pandas()
        order = np.empty(len(rows), dtype=np.int64)
        order[np.concatenate(where_all)] = np.arange(len(rows))
        return df.iloc[order].reset_index(drop=True)

    def content_keys(self, rows: np.ndarray) -> list[str | None]:
        """``sha256:HEX`` of each row's image bytes where ``inquire embed`` recorded it, else None.

        Reranker scores and embeddings are cached by image key. An ``image_path`` is unique in
        iNat24, but two collections of one's own can both hold ``IMG_0001``, and a photo can change
        under its name; the content digest names the photo itself, in any collection.
        """
        rows = self.check_rows(rows).reshape(-1)
        out: list[str | None] = [None] * len(rows)
        shard = self.shard_of(rows)
        for s in np.unique(shard):
            digests = self._digests(int(s))
            if digests is None:
                continue
            for i in np.flatnonzero(shard == s):
                out[i] = digests[rows[i] - self.offsets[s]]
        return out

    def _digests(self, s: int) -> list[str] | None:
        """Shard ``s``'s digests in row order (its embedded items' rows), None when not recorded or not matching."""
        cache = self._digest_cache
        if s not in cache:
            number = META_RE.match(self.meta_files[s].name)[1]
            f = self.path / ITEMS_DIR / f"items_{number}.parquet"
            cache[s] = None
            if f.is_file():
                try:
                    items = pq.read_table(f, columns=["sha256", "reason"])
                except (KeyError, pa.ArrowInvalid, OSError):
                    items = None
                if items is not None:
                    kept = [d for d, r in zip(items["sha256"].to_pylist(), items["reason"].to_pylist()) if r is None]
                    n = int(self.offsets[s + 1] - self.offsets[s])
                    if len(kept) == n and all(d is not None for d in kept):
                        cache[s] = ["sha256:" + d.hex() for d in kept]
        return cache[s]

    def _read_meta(self, f: Path, columns: list[str] | None) -> pa.Table:
        try:
            return pq.read_table(f, columns=columns)
        except (KeyError, pa.ArrowInvalid) as exc:
            raise InquireError(f"Could not read columns {columns} from {f}: {exc}") from None


def _numbered(folder: Path, pattern: re.Pattern, form: str) -> dict[int, Path]:
    """Files of ``folder`` named by ``pattern`` keyed by their number; hidden (temporary) files are skipped."""
    if not folder.is_dir():
        raise InquireError(
            f"{folder} does not exist: an embedding folder holds img_emb/img_emb_<i>.npy and "
            "metadata/metadata_<i>.parquet. Point --embeddings at that folder."
        )
    found: dict[int, Path] = {}
    for f in folder.iterdir():
        if f.name.startswith("."):
            continue  # temporary names of shards still being written
        m = pattern.match(f.name)
        if m is None:
            if f.suffix == Path(form).suffix:
                raise InquireError(f"{f}: unexpected file name; shards are named {form} (i = 0, 1, 2, ...).")
            continue
        i = int(m.group(1))
        if i in found:
            raise InquireError(f"{found[i]} and {f} are both shard {i}; keep one.")
        found[i] = f
    if not found:
        raise InquireError(f"{folder} holds no {form} files; the embedding folder is empty or incomplete.")
    return found


def _check_pairs(path: Path, shards: dict[int, Path], metas: dict[int, Path]) -> None:
    """Shards numbered 0..n-1 without gaps, each with its metadata file."""
    expected = set(range(max(shards) + 1))
    missing = sorted(expected - set(shards))
    if missing:
        raise InquireError(
            f"{path}/img_emb lacks shard(s) {', '.join(f'img_emb_{i}.npy' for i in missing[:5])}: rows would be "
            "misnumbered. Copy the missing shards (or re-run `inquire embed` to finish the folder)."
        )
    no_meta = sorted(set(shards) - set(metas))
    if no_meta:
        raise InquireError(
            f"{path}/metadata lacks {', '.join(f'metadata_{i}.parquet' for i in no_meta[:5])}; every shard needs "
            "its metadata file (same number, one row per embedding)."
        )
    extra = sorted(set(metas) - set(shards))
    if extra:
        raise InquireError(
            f"{path}/metadata has {', '.join(f'metadata_{i}.parquet' for i in extra[:5])} without an embedding "
            "shard of the same number; remove it or add the shard."
        )


def _open_shard(f: Path) -> np.ndarray:
    try:
        return np.load(f, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InquireError(f"Could not open embedding shard {f}: {exc}. Re-create it.") from None
