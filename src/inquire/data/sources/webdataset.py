"""Tar shards in the webdataset convention: a sample is the run of files sharing a key.

``dir/000017.jpg`` and ``dir/000017.json`` form the sample with key ``dir/000017`` (the member
path up to the first dot of its file name). Shards are read in sorted name order, samples in tar
order. Only the tar headers are read when the source is opened; each image is then a
:class:`FileSlice` that decoding workers read themselves, in parallel.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..decode import FileSlice, Payload, Unavailable
from ...errors import InquireError
from ..image_files import image_extensions
from .base import IMAGE_PATH, ImageSource, file_stamps

_BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


class WebDatasetSource(ImageSource):
    """Samples of uncompressed tar shards; ``image_path`` is the sample key.

    Columns: ``image_path``, ``tar`` (the shard, relative to the root) and one text column per
    other extension found (``json``, ``txt``, ``cls`` …; null where a sample lacks it). A sample
    without an image is skipped with that reason; a sample with several images uses the first
    (the others are counted in the manifest as ``extra_images``).
    """

    kind = "webdataset"

    def __init__(self, shards: list[Path], root: Path):
        self.root = root.resolve()
        self._shards = [str(s.resolve()) for s in shards]
        samples, extra_images = _index(self._shards)
        if not samples:
            raise InquireError(f"The tar shards under {self.root} hold no files.")
        self._extra_images = extra_images
        self._shard = np.array([s["shard"] for s in samples], dtype=np.int32)
        self._image = np.array([s.get("image", (-1, -1)) for s in samples], dtype=np.int64)
        self._texts = sorted({ext for s in samples for ext in s["texts"]})
        self._text_loc = {
            ext: np.array([s["texts"].get(ext, (-1, -1)) for s in samples], dtype=np.int64)
            for ext in self._texts
        }
        rel = [str(Path(p).relative_to(self.root)) for p in self._shards]
        self.table = pa.table(
            {
                IMAGE_PATH: pa.array([s["key"] for s in samples], type=pa.string()),
                "tar": pa.array([rel[s["shard"]] for s in samples], type=pa.string()),
            }
        )

    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        for i in range(start, stop):
            offset, size = self._image[i]
            if offset < 0:
                yield Unavailable("no image in the sample")
            else:
                yield FileSlice(self._shards[self._shard[i]], int(offset), int(size))

    def metadata(self, indices) -> pa.Table:
        table = super().metadata(indices)
        for ext in self._texts:
            values = []
            for i in indices:
                offset, size = self._text_loc[ext][i]
                if offset < 0:
                    values.append(None)
                else:
                    raw = FileSlice(self._shards[self._shard[i]], int(offset), int(size)).read()
                    values.append(raw.decode("utf-8", errors="replace"))
            table = table.append_column(ext, pa.array(values, type=pa.string()))
        return table

    def location(self, index: int) -> str:
        return f"{self.table.column('tar')[index].as_py()} (sample {self.image_path(index)})"

    def stamps(self) -> np.ndarray:
        """The image member's size and its shard's modification time."""
        shard_mtime = file_stamps("", self._shards)[:, 1]
        return np.stack([self._image[:, 1], shard_mtime[self._shard]], axis=1)

    def details(self) -> dict[str, Any]:
        return {
            "n_shards": len(self._shards),
            "text_columns": self._texts,
            "extra_images": self._extra_images,
        }


def find_shards(pattern: str) -> tuple[list[Path], Path]:
    """The shards named by a ``.tar`` file, a folder of them, or a brace pattern
    (``shards-{000000..000099}.tar``), and the root their names are relative to."""
    path = Path(pattern)
    if _BRACES.search(pattern):
        shards = [Path(p) for p in expand_braces(pattern)]
        missing = [str(p) for p in shards if not p.is_file()]
        if missing:
            raise InquireError(
                f"{len(missing)} shard(s) of {pattern} do not exist, e.g. {missing[0]}."
            )
        return shards, shards[0].parent
    if path.is_dir():
        shards = sorted(
            p for p in path.rglob("*") if p.is_file() and p.name.endswith(_TAR_SUFFIXES)
        )
        return shards, path
    return [path], path.parent


def expand_braces(pattern: str) -> list[str]:
    """Expand every ``{a..b}`` range, keeping the zero padding of ``a``."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    lo, hi = match.group(1), match.group(2)
    width = len(lo) if lo.startswith("0") else 0
    out = []
    for n in range(int(lo), int(hi) + 1):
        out.extend(
            expand_braces(pattern[: match.start()] + str(n).zfill(width) + pattern[match.end() :])
        )
    return out


_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def _index(shards: list[str]) -> tuple[list[dict], int]:
    """One record per sample: key, shard number, image location and other members' locations."""
    extensions = {e.lstrip(".") for e in image_extensions()}
    samples: list[dict] = []
    extra_images = 0
    for n, shard in enumerate(shards):
        if not shard.endswith(".tar"):
            raise InquireError(
                f"{shard} is compressed: tar shards are read by offset, which needs plain .tar files. "
                "Decompress them first (e.g. gunzip, or `tar -xzf` and re-pack without compression)."
            )
        try:
            with tarfile.open(shard, "r:") as tar:
                members = [m for m in tar if m.isfile()]
        except (OSError, tarfile.TarError) as exc:
            raise InquireError(f"Could not read the tar shard {shard} ({exc}).") from None
        current: dict | None = None
        for m in members:
            directory, _, name = m.name.rpartition("/")
            stem, dot, ext = name.partition(".")
            key = f"{directory}/{stem}" if directory else stem
            if current is None or current["key"] != key:
                current = {"key": key, "shard": n, "texts": {}}
                samples.append(current)
            ext = ext.lower() if dot else ""
            location = (m.offset_data, m.size)
            if ext.rpartition(".")[2] in extensions:
                if "image" in current:
                    extra_images += 1
                else:
                    current["image"] = location
            else:
                current["texts"][ext or "(no extension)"] = location
    return samples, extra_images
