"""What every image collection offers the embedding job: a fixed order, payloads and metadata.

Item ``i`` of a source is always the same image: the order is fixed when the source is opened
(sorted paths, the order of a ``train.json`` sorted by file name, tar order, row order), so an
interrupted job can split the collection into the same blocks on every run and resume exactly.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from ..columns import Tier
from ..decode import Payload

#: Column of the output metadata that names each image (the key of the published layout).
IMAGE_PATH = "image_path"


class ImageSource(ABC):
    """An ordered image collection.

    Subclasses fill ``self.root`` and ``self.table``: one row per item, ``image_path`` first,
    then the collection's own metadata columns, which travel into the output unchanged.
    A source is pickled to distributed workers, so it holds arrays, never open files.
    """

    kind: ClassVar[str]
    root: Path
    table: pa.Table
    #: canonical column → rows whose value the source held but could not read (sources that parse)
    unreadable: Mapping[str, np.ndarray] = MappingProxyType({})
    #: canonical column → the first unreadable values (row, value, reason), for the manifest
    unreadable_examples: Mapping[str, list[dict]] = MappingProxyType({})

    def __len__(self) -> int:
        return self.table.num_rows

    @abstractmethod
    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        """The images of items ``start`` to ``stop - 1``, in order, as :func:`decode_image` takes them."""

    def payloads_of(self, indices: Sequence[int]) -> Iterator[Payload]:
        """The images of the given items, in the given order (runs of consecutive items read together)."""
        indices = list(indices)
        start = 0
        while start < len(indices):
            stop = start + 1
            while stop < len(indices) and indices[stop] == indices[stop - 1] + 1:
                stop += 1
            yield from self.payloads(indices[start], indices[stop - 1] + 1)
            start = stop

    def metadata(self, indices: Sequence[int]) -> pa.Table:
        """Output metadata rows of the given items (``image_path`` first), in the given order."""
        return self.table.take(pa.array(indices, type=pa.int64()))

    def tier(self, indices: Sequence[int]) -> Tier:
        """What the source itself knows of the given items, for :func:`~inquire.data.columns.merge`."""
        rows = np.asarray(indices, dtype=np.int64)
        table = self.metadata(rows).drop_columns([IMAGE_PATH])
        return Tier(self.kind, table, {c: m[rows] for c, m in self.unreadable.items()})

    @abstractmethod
    def stamps(self) -> np.ndarray:
        """Per item ``(size, mtime_ns)`` of what holds its bytes (int64, shape (n, 2); -1 where
        absent): equal stamps mean an unchanged image, as for make and rsync. Different ones send
        the bytes to the content hash, so a touched or copied file is not embedded again."""

    def image_path(self, index: int) -> str:
        return self.table.column(IMAGE_PATH)[index].as_py()

    def location(self, index: int) -> str:
        """Where a user finds item ``index`` to fix it (a file path relative to ``root``, a tar member …)."""
        return self.image_path(index)

    def details(self) -> dict[str, Any]:
        """Source-specific facts for the manifest (files ignored, columns, …)."""
        return {}

    @cached_property
    def metadata_fingerprint(self) -> str:
        """Hash of every metadata value the source holds: a change makes a re-run rewrite the metadata."""
        h = hashlib.sha256(self.table.schema.serialize())
        for batch in self.table.to_batches(max_chunksize=65536):  # a batch at a time: memory stays small
            h.update(batch.serialize())
        return h.hexdigest()[:32]

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the kind and the ordered image paths: equal iff the items and their order are."""
        h = hashlib.sha256(self.kind.encode())
        for chunk in self.table.column(IMAGE_PATH).chunks:
            for path in chunk.to_pylist():
                h.update(b"\0" + path.encode())
        return h.hexdigest()[:32]

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the source."""
        return {
            "kind": self.kind,
            "root": str(self.root),
            "n_items": len(self),
            "fingerprint": self.fingerprint,
            "columns": self.table.column_names,
            **self.details(),
        }

    def __getstate__(self) -> dict:
        # cached file handles and row groups stay in the process that made them
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}


def infer_column(values: Sequence[Any]) -> pa.Array:
    """An Arrow column from Python values, typed by inference, or as text when types are mixed."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class FilesUnderRoot(ImageSource):
    """A source whose items are files under ``root``: subclasses also fill ``self._files``
    (paths relative to ``root``, in item order), which is where a user finds each item."""

    _files: pa.Array

    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        root = str(self.root)
        for rel in self._files[start:stop].to_pylist():
            yield os.path.join(root, rel)

    def location(self, index: int) -> str:
        return self._files[index].as_py()

    def stamps(self) -> np.ndarray:
        return file_stamps(str(self.root), self._files.to_pylist())


def file_stamps(root: str, files: Sequence[str]) -> np.ndarray:
    """``(size, mtime_ns)`` of each file under ``root`` (-1, -1 for a missing one)."""
    out = np.full((len(files), 2), -1, dtype=np.int64)
    for i, rel in enumerate(files):
        try:
            st = os.stat(os.path.join(root, rel))
        except OSError:
            continue
        out[i] = st.st_size, st.st_mtime_ns
    return out
