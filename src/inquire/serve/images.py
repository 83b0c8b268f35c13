"""The collection's image files, found by row, and their thumbnails, made once and kept on disk.

The server never opens a path a client sends: a client names a row of the collection, the row
gives the metadata's ``image_path``, and the file is looked up under the images root and must
stay inside it. The file is found by the collection's naming rule
(:func:`inquire.data.image_files.find_image_file`: ``ROOT/<image_path>``, else with ``.jpg``).

Thumbnails (longest side :data:`THUMB_SIZE`, JPEG) are written atomically under
``cache_root()/thumbnails/<collection hash>/``, so a page of 200 results costs one decode per
image once and a file read ever after.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from PIL import Image

from ..data.decode import DecodeError, decode_image
from ..data.image_files import find_image_file
from ..paths import cache_root

THUMB_SIZE = 320
MEDIA_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff",
}


class ImageNotFound(Exception):
    """The row's image file is absent or not usable; the message says why."""


class ImageStore:
    """Image files and thumbnails of one collection whose photos live under ``root``."""

    def __init__(self, root: Path, collection_key: str):
        self.root = root.resolve()
        digest = hashlib.sha256(f"{self.root}\n{collection_key}".encode()).hexdigest()[:16]
        self.thumb_dir = cache_root() / "thumbnails" / digest

    def file(self, image_path: str) -> Path:
        """The file of a metadata ``image_path``, confined to the images root."""
        path = find_image_file(self.root, image_path, set(MEDIA_TYPES))
        if path is not None:
            return self._inside(path)
        raise ImageNotFound(f"no image file for {image_path!r} under the images root")

    def _inside(self, path: Path) -> Path:
        real = path.resolve()
        if not real.is_relative_to(self.root):
            raise ImageNotFound("the image path leads outside the images root")
        return real

    def thumbnail(self, row: int, image_path: str) -> Path:
        """The cached thumbnail of ``row``, made now if it is not cached yet."""
        out = self.thumb_dir / f"{row // 10_000:04d}" / f"{row}.jpg"
        if out.is_file():
            return out
        try:
            image = decode_image(self.file(image_path))
        except DecodeError as exc:
            raise ImageNotFound(f"the image cannot be decoded ({exc})") from None
        image.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BICUBIC)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        image.save(tmp, format="JPEG", quality=85)
        tmp.replace(out)
        return out


def media_type(path: Path) -> str:
    """The Content-Type of an image file, from its extension."""
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
