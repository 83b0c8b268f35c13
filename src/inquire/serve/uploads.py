"""Photos uploaded to search with: checked, decoded, embedded once and kept by id for a while.

A client sends the photo's bytes as the body of ``POST /api/photos`` and gets an id back; searches
then name it (``photo``), alone or mixed with words and a row's image, with any filter, and may
be repeated or refined without sending the photo again. Only what the app needs is accepted:

* at most :data:`MAX_UPLOAD` bytes (413; the guard refuses larger bodies before reading them);
* JPEG, PNG or WebP, recognised by their leading bytes whatever the Content-Type says (415);
* an image Pillow decodes within its decompression-bomb limit
  (:func:`inquire.data.decode.decode_image`; 422 otherwise).

The embedding (the model's image tower, its own preprocessing) is kept, not the photo, in a small
in-memory LRU keyed by the bytes' SHA-256, so the same photo uploaded twice is embedded once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..data.decode import DecodeError, decode_image

MAX_UPLOAD = 10 * 1024 * 1024
#: Photos whose embeddings are kept; older ones must be uploaded again.
KEEP = 256
_SIGNATURES = (("JPEG", b"\xff\xd8\xff", 0), ("PNG", b"\x89PNG\r\n\x1a\n", 0), ("WebP", b"WEBP", 8))


class UploadError(Exception):
    """A photo the app will not search with; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, eq=False)
class Photo:
    """An uploaded photo's id, what it was, and its unit embedding."""

    id: str
    format: str
    width: int
    height: int
    bytes: int
    embedding: np.ndarray


def sniff(data: bytes) -> str | None:
    """``JPEG``, ``PNG`` or ``WebP`` from the file's leading bytes, else None."""
    for name, magic, at in _SIGNATURES:
        if data[at : at + len(magic)] == magic and (name != "WebP" or data[:4] == b"RIFF"):
            return name
    return None


class PhotoStore:
    """Uploaded photos' embeddings by id (an LRU of :data:`KEEP`); ``embed`` turns a decoded photo into a unit vector."""

    def __init__(self, embed: Callable[[Image.Image], np.ndarray], keep: int = KEEP):
        self._embed, self.keep = embed, keep
        self._photos: OrderedDict[str, Photo] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, data: bytes) -> Photo:
        """Check, decode and embed ``data``; raises :class:`UploadError` with the status to answer."""
        if len(data) > MAX_UPLOAD:
            raise UploadError(413, f"The photo is {len(data):,} bytes; the limit is {MAX_UPLOAD:,} bytes (10 MB).")
        if not data:
            raise UploadError(422, "The request has no photo: send the image file's bytes as the body.")
        kind = sniff(data)
        if kind is None:
            raise UploadError(415, "Only JPEG, PNG and WebP photos can be searched with; send the image file's bytes as the body.")
        photo_id = hashlib.sha256(data).hexdigest()[:24]
        with self._lock:
            if photo_id in self._photos:
                self._photos.move_to_end(photo_id)
                return self._photos[photo_id]
        try:
            image = decode_image(data)
        except DecodeError as exc:
            raise UploadError(422, f"The {kind} photo cannot be decoded ({exc}).") from None
        photo = Photo(photo_id, kind, image.width, image.height, len(data), self._embed(image))
        with self._lock:
            self._photos[photo_id] = photo
            while len(self._photos) > self.keep:
                self._photos.popitem(last=False)
        return photo

    def get(self, photo_id: str) -> Photo | None:
        with self._lock:
            photo = self._photos.get(photo_id)
            if photo is not None:
                self._photos.move_to_end(photo_id)
            return photo
