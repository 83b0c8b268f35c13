"""Turning whatever a photo collection holds into RGB images, or a reason why not.

Real collections hold zero-byte files, truncated downloads, CMYK and 16-bit scans, palette PNGs
with transparency, phone photos rotated by an EXIF tag and the odd gigapixel panorama. Each
either becomes a correct RGB image or raises :class:`DecodeError` with a short reason that is
counted and recorded; none stops a run.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..provenance import file_sha256
from .exif import read_exif

#: Pillow's own decompression-bomb limit (about 179 megapixels): a larger image is refused.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class DecodeError(Exception):
    """An image that cannot be used; the message is the reason recorded for it."""


@dataclass(frozen=True)
class FileSlice:
    """``size`` bytes at ``offset`` of a file: a member of an uncompressed tar shard.

    Passing the location instead of the bytes lets decoding workers do the reading, in parallel.
    """

    path: str
    offset: int
    size: int

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise OSError(f"{self.path} ends before byte {self.offset + self.size}")
        return data


@dataclass(frozen=True)
class Unavailable:
    """An item whose image its source cannot provide (a sample without an image, a null cell)."""

    reason: str


Payload = bytes | str | Path | FileSlice | Unavailable


@dataclass(frozen=True)
class Photo:
    """A decoded image with what the embedding job records of it: the EXIF facts
    (:func:`~inquire.data.exif.read_exif`: values and unreadable tags) and the SHA-256 of the
    encoded bytes, by which a re-run tells a changed file from one merely touched or copied."""

    image: Image.Image
    exif: dict[str, Any]
    exif_unreadable: dict[str, str]
    sha256: str


def decode_image(payload: Payload) -> Image.Image:
    """Open ``payload`` (encoded bytes, a file path or a :class:`FileSlice`) as an upright RGB image."""
    return _decode(payload, photo=False)  # type: ignore[return-value]


def decode_photo(payload: Payload) -> Photo:
    """:func:`decode_image` plus the EXIF facts, read from the same opened image, and the bytes' digest."""
    return _decode(payload, photo=True)  # type: ignore[return-value]


def payload_sha256(payload: Payload) -> str | None:
    """SHA-256 (hex) of the encoded bytes, as :func:`decode_photo` records it; None when they cannot
    be read (a re-run then embeds the item again, and decoding says what is wrong)."""
    if isinstance(payload, Unavailable):
        return None
    try:
        if isinstance(payload, FileSlice):
            return hashlib.sha256(payload.read()).hexdigest()
        if isinstance(payload, (bytes, bytearray, memoryview)):
            return hashlib.sha256(payload).hexdigest()
        return file_sha256(payload)
    except OSError:
        return None


def _decode(payload: Payload, photo: bool) -> Image.Image | Photo:
    if isinstance(payload, Unavailable):
        raise DecodeError(payload.reason)
    try:
        if isinstance(payload, FileSlice):
            payload = payload.read()
        elif photo and not isinstance(payload, (bytes, bytearray, memoryview)):
            payload = Path(payload).read_bytes()  # once: hashed here, decoded below
        if isinstance(payload, (bytes, bytearray, memoryview)):
            if len(payload) == 0:
                raise DecodeError("empty file")
            source = io.BytesIO(payload)
        else:
            path = Path(payload)
            if path.stat().st_size == 0:
                raise DecodeError("empty file")
            source = path
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                img.load()
                facts = read_exif(img) if photo else None
                img = _to_rgb(ImageOps.exif_transpose(img))
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise DecodeError("not an image") from None
    except FileNotFoundError:
        raise DecodeError("file not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from None
    except Exception as exc:  # a malformed file can trip any Pillow plugin; none may stop a run
        raise DecodeError(f"unreadable image ({type(exc).__name__}: {exc})") from None
    if not photo:
        return img
    return Photo(img, facts[0], facts[1], hashlib.sha256(payload).hexdigest())


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with transparency composited on white (a photo's background is never black)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        img = _scale_to_8bit(img)
    return img.convert("RGB")


def _scale_to_8bit(img: Image.Image) -> Image.Image:
    """Greyscale with more than 8 bits → 8 bits, by range rather than by clipping.

    Pillow's own conversion clips every value above 255 to white, which turns a 16-bit scan into a
    white page. 16-bit data (``I;16*``) are divided by 256; float data are taken as [0, 1] when they
    fit there, else as [0, 255]; 32-bit integers as 8-bit, 16-bit or by their maximum, whichever
    range holds them.
    """
    values = np.asarray(img, dtype=np.float64)
    top = float(np.nanmax(values)) if values.size else 0.0
    if img.mode == "F":
        scale = 255.0 if top <= 1.0 else 1.0
    elif img.mode.startswith("I;16") or 255 < top <= 65535:
        scale = 1 / 256
    else:
        scale = 1.0 if top <= 255 else 255.0 / top
    return Image.fromarray(np.clip(np.nan_to_num(values * scale), 0, 255).astype(np.uint8), "L")
