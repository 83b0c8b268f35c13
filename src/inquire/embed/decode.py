"""Turning whatever a photo collection holds into RGB images, or a reason why not.

Real collections hold zero-byte files, truncated downloads, CMYK and 16-bit scans, palette PNGs
with transparency, phone photos rotated by an EXIF tag and the odd gigapixel panorama. Each
either becomes a correct RGB image or raises :class:`DecodeError` with a short reason that is
counted and recorded; none stops a run.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

#: Pillow's own decompression-bomb limit (about 179 megapixels): a larger image is refused.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class DecodeError(Exception):
    """An image that cannot be used; the message is the reason recorded for it."""


def decode_image(payload: bytes | str | Path) -> Image.Image:
    """Open ``payload`` (encoded bytes or a file path) as an upright RGB image."""
    try:
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
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
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


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with transparency composited on white (a photo's background is never black)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or img.mode.endswith("A"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits rather than clipping everything above 255 to white
        img = img.point(lambda v: v / 256).convert("L")
    return img.convert("RGB")
