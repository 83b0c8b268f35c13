"""The collection's image files, found by row, and their thumbnails, made once and kept on disk.

The server never opens a path a client sends: a client names a row of the collection, the row
gives the metadata's ``image_path``, and the file is looked up under the images root and must
stay inside it. Metadata paths carry no extension (as in the published iNat24 set), so the file
is ``ROOT/<image_path>`` as given (folder collections keep an extension when two files share a
stem), else with a common image extension (``.jpg`` first: iNat24), else the single file that
matches ``<image_path>.*``.

Thumbnails (longest side :data:`THUMB_SIZE`, JPEG) are written atomically under
``cache_root()/thumbnails/<collection hash>/``, so a page of 200 results costs one decode per
image once and a file read ever after.
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
from pathlib import Path

from PIL import Image

from ..data.decode import DecodeError, decode_image
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
        base = self.root / image_path
        candidates = [base] + [base.with_name(base.name + ext) for ext in MEDIA_TYPES]
        for path in candidates:
            if path.is_file():
                return self._inside(path)
        matches = [p for p in glob.glob(glob.escape(str(base)) + ".*") if Path(p).suffix.lower() in MEDIA_TYPES]
        if len(matches) == 1:
            return self._inside(Path(matches[0]))
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
