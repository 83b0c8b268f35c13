"""A folder of image files, searched recursively, in sorted path order."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..decode import Payload
from ...errors import InquireError
from .base import IMAGE_PATH, ImageSource, image_extensions


class FolderSource(ImageSource):
    """Every file under ``root`` whose extension Pillow decodes (JPEG, PNG, WebP, TIFF, …).

    ``image_path`` is the path relative to ``root`` without its extension, as in the published
    iNat24 metadata, so a plain copy of the iNat24 ``train/`` tree matches the INQUIRE annotations.
    Files that differ only by extension (``a.jpg``, ``a.png``) keep their extensions so that every
    image_path stays unique. Other files are not images of the collection; they are counted by
    extension in the manifest (``ignored_files``), never silently.
    """

    kind = "folder"

    def __init__(self, root: Path):
        self.root = root.resolve()
        files, ignored = _scan(self.root)
        if not files:
            raise InquireError(
                f"No image files under {self.root} (looked recursively for {', '.join(sorted(_COMMON))}, and "
                "whatever else Pillow reads). Point SOURCE at the folder that holds the images."
            )
        self._ignored = dict(sorted(ignored.items()))
        stems = [os.path.splitext(f)[0] for f in files]
        count = Counter(stems)
        keys = [stem if count[stem] == 1 else f for stem, f in zip(stems, files, strict=True)]
        self.table = pa.table({IMAGE_PATH: pa.array(keys, type=pa.string())})
        self._files = pa.array(files, type=pa.string())

    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        root = str(self.root)
        for rel in self._files[start:stop].to_pylist():
            yield os.path.join(root, rel)

    def details(self) -> dict[str, Any]:
        return {"ignored_files": self._ignored}


_COMMON = {".jpg", ".jpeg", ".png", ".webp"}


def _scan(root: Path) -> tuple[list[str], Counter]:
    """Relative POSIX paths of the image files under ``root``, sorted, and a count of the rest by extension."""
    if not root.is_dir():
        raise InquireError(f"{root} is not a folder.")
    extensions = image_extensions()
    files: list[str] = []
    ignored: Counter = Counter()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            ext = os.path.splitext(name)[1].lower()
            if ext in extensions:
                files.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
            else:
                ignored[ext or "(no extension)"] += 1
    files.sort()
    return files, ignored
