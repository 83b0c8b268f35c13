"""A folder of image files, searched recursively, in sorted path order."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import InquireError
from ..image_files import image_extensions, image_path_of
from .base import IMAGE_PATH, FilesUnderRoot


class FolderSource(FilesUnderRoot):
    """Every file under ``root`` whose extension Pillow decodes (JPEG, PNG, WebP, TIFF, …).

    ``image_path`` is the path relative to ``root`` with a trailing ``.jpg`` dropped and any other
    extension kept (:mod:`inquire.data.image_files`), as in the published iNat24 metadata, so a
    plain copy of the iNat24 ``train/`` tree matches the INQUIRE annotations, and a file's name
    never depends on its neighbours. Other files are not images of the collection; they are
    counted by extension in the manifest (``ignored_files``), never silently.
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
        keys = [image_path_of(f) for f in files]
        _refuse_clashes(self.root, keys, files)
        self.table = pa.table({IMAGE_PATH: pa.array(keys, type=pa.string())})
        self._files = pa.array(files, type=pa.string())

    def details(self) -> dict[str, Any]:
        return {"ignored_files": self._ignored}


def _refuse_clashes(root: Path, keys: list[str], files: list[str]) -> None:
    """Two files with one image_path (``x.png.jpg`` beside ``x.png``) would share a row name."""
    count = Counter(keys)
    clashes = [f for k, f in zip(keys, files, strict=True) if count[k] > 1]
    if clashes:
        raise InquireError(
            f"Files under {root} would share an image_path ({', '.join(clashes[:4])}): a trailing '.jpg' is "
            "dropped from names, so rename one of each pair."
        )


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
