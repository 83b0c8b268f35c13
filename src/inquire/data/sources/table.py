"""Images stored in a table: parquet files (one, or a Hugging Face hub snapshot folder of them) or a
``datasets`` folder written by ``save_to_disk`` (Arrow files).

The image column holds encoded bytes, either as a binary column or as the Hugging Face ``Image``
struct ``{bytes, path}``. Every other column travels into the output. Images are read one parquet
row group at a time, by the process that decodes them, so the table never sits in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..decode import Payload, Unavailable
from ...errors import InquireError
from .base import IMAGE_PATH, ImageSource, file_stamps


class TableSource(ImageSource):
    """Rows of ``files`` (parquet or Arrow IPC streams), in file then row order.

    ``image_path`` is the table's own ``image_path`` column if it has one, else
    ``<file relative to the root, without suffix>/<row number in that file>``.
    """

    kind = "table"

    def __init__(self, files: list[Path], root: Path, image_column: str | None = None):
        self.root = root.resolve()
        self._files = [str(f.resolve()) for f in files]
        schemas = [_schema(f) for f in self._files]
        self.image_column = _pick_image_column(schemas[0], image_column, self._files[0])
        others = [n for n in schemas[0].names if n != self.image_column]
        for f, schema in zip(self._files, schemas, strict=True):
            if [
                n for n in schema.names if n != self.image_column
            ] != others or self.image_column not in schema.names:
                raise InquireError(
                    f"{f} has columns {schema.names}, unlike {self._files[0]} ({schemas[0].names}): "
                    "every file of a table source needs the same columns."
                )
        tables = [_read(f, others) for f in self._files]
        self._starts = np.cumsum([0] + [t.num_rows for t in tables])
        if self._starts[-1] == 0:
            raise InquireError(f"The table source {self.root} has no rows.")
        meta = pa.concat_tables(tables)
        if IMAGE_PATH in others:
            paths = meta.column(IMAGE_PATH).cast(pa.string())
            meta = meta.drop_columns([IMAGE_PATH])
        else:
            paths = pa.array(
                [
                    f"{_stem(f, self.root)}/{row}"
                    for f, t in zip(self._files, tables, strict=True)
                    for row in range(t.num_rows)
                ],
                type=pa.string(),
            )
        if meta.num_columns:
            self.table = meta.add_column(0, IMAGE_PATH, paths).combine_chunks()
        else:  # images alone: Arrow keeps no row count for tables without columns, so start from the paths
            self.table = pa.table({IMAGE_PATH: paths})
        self._row_groups = [_row_group_starts(f) for f in self._files]

    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        i = start
        while i < stop:
            n = int(np.searchsorted(self._starts, i, side="right") - 1)
            row = i - int(self._starts[n])
            group_starts = self._row_groups[n]
            g = int(np.searchsorted(group_starts, row, side="right") - 1)
            column = self._group(n, g)
            end = min(stop - int(self._starts[n]), int(group_starts[g]) + len(column))
            for r in range(row, end):
                yield _payload(column[r - int(group_starts[g])])
            i = int(self._starts[n]) + end

    def _group(self, n: int, g: int) -> pa.Array:
        """Image column of row group ``g`` of file ``n``; the last one read is kept for the next call."""
        cached = getattr(self, "_cache_group", None)
        if cached is not None and cached[0] == (n, g):
            return cached[1]
        path = self._files[n]
        if path.endswith(".arrow"):
            column = _arrow_table(path).column(self.image_column).combine_chunks()
        else:
            column = (
                pq.ParquetFile(path)
                .read_row_group(g, columns=[self.image_column])
                .column(0)
                .combine_chunks()
            )
        self._cache_group = ((n, g), column)
        return column

    def stamps(self) -> np.ndarray:
        """Each row's file's size and modification time."""
        per_file = file_stamps("", self._files)
        return np.repeat(per_file, np.diff(self._starts), axis=0)

    def details(self) -> dict[str, Any]:
        return {
            "files": [str(Path(f).relative_to(self.root)) for f in self._files],
            "image_column": self.image_column,
        }


def find_table_files(path: Path) -> list[Path]:
    """Parquet files of ``path`` (a file, or a folder searched recursively) or the Arrow files of a
    ``save_to_disk`` folder (named in its ``state.json``); empty if there are none."""
    if path.is_file():
        return [path]
    state = path / "state.json"
    if state.is_file():
        try:
            names = [d["filename"] for d in json.loads(state.read_text())["_data_files"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InquireError(
                f"{state} is not a datasets save_to_disk state file ({exc})."
            ) from None
        return [path / n for n in names]
    return sorted(p for p in path.rglob("*.parquet") if p.is_file())


def _schema(path: str) -> pa.Schema:
    try:
        return _arrow_table(path).schema if path.endswith(".arrow") else pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InquireError(
            f"Could not read {path} as {'Arrow' if path.endswith('.arrow') else 'parquet'} ({exc})."
        ) from None


def _read(path: str, columns: list[str]) -> pa.Table:
    if path.endswith(".arrow"):
        return _arrow_table(path).select(columns)
    return pq.read_table(path, columns=columns)


def _arrow_table(path: str) -> pa.Table:
    """A ``datasets`` Arrow file (IPC stream), memory-mapped: its bytes are read only when used."""
    return pa.ipc.open_stream(pa.memory_map(path)).read_all()


def _row_group_starts(path: str) -> np.ndarray:
    if path.endswith(".arrow"):
        return np.array([0])
    meta = pq.ParquetFile(path).metadata
    return np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])[:-1]


def _stem(path: str, root: Path) -> str:
    return Path(path).relative_to(root).with_suffix("").as_posix()


def _is_image_type(t: pa.DataType) -> bool:
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return True
    return pa.types.is_struct(t) and any(t.field(i).name == "bytes" for i in range(t.num_fields))


def _pick_image_column(schema: pa.Schema, wanted: str | None, path: str) -> str:
    if wanted is not None:
        if wanted not in schema.names:
            raise InquireError(
                f"{path} has no column {wanted!r} (--image-column); its columns: {', '.join(schema.names)}."
            )
        if not _is_image_type(schema.field(wanted).type):
            raise InquireError(
                f"Column {wanted!r} of {path} is {schema.field(wanted).type}, not image bytes."
            )
        return wanted
    candidates = [f.name for f in schema if _is_image_type(f.type)]
    if len(candidates) == 1:
        return candidates[0]
    if "image" in candidates:
        return "image"
    raise InquireError(
        f"{path}: {'no column holds' if not candidates else 'several columns hold'} image bytes "
        f"({', '.join(candidates) or 'columns: ' + ', '.join(schema.names)}). "
        "Name the one to embed with --image-column (binary, or a Hugging Face Image struct with 'bytes')."
    )


def _payload(cell: pa.Scalar) -> Payload:
    value = cell.as_py()
    if isinstance(value, dict):
        value = value.get("bytes")
    if value is None:
        return Unavailable("no image bytes in the row")
    return value
