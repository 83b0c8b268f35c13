"""What a photo's EXIF says about where and when it was taken, in the columns of :mod:`.columns`.

Read from the image object the decoding step has already opened (Pillow parses the EXIF block with
the header, before any pixel is decoded), so the file is read once: see ``docs/benchmarks.md``
for the cost. Tags read: DateTimeOriginal with OffsetTimeOriginal (the local clock time and,
where the camera wrote it, its UTC offset), GPSLatitude/GPSLongitude with their N/S/E/W refs,
GPSAltitude with its above/below-sea-level ref, Make and Model. A tag that is present but
malformed is reported as unreadable with its reason; EXIF never makes a photo fail.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import ExifTags, Image

from .columns import BadValue, normalize_date

#: the columns EXIF can fill, in contract order
EXIF_COLUMNS = ("date", "latitude", "longitude", "altitude", "camera_make", "camera_model")

_MAKE, _MODEL = 0x010F, 0x0110
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_LAT_REF, _LAT, _LON_REF, _LON, _ALT_REF, _ALT = 1, 2, 3, 4, 5, 6


def read_exif(image: Image.Image) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, unreadable)``: column → normalised value for the tags present, and column →
    reason for tags present but unusable. Both empty for a photo without EXIF."""
    values: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    try:
        exif = image.getexif()
    except Exception as exc:  # a malformed EXIF block: the pixels are still good
        return {}, {c: f"EXIF block unreadable ({type(exc).__name__})" for c in EXIF_COLUMNS}
    info, gps = _ifd(exif, ExifTags.IFD.Exif), _ifd(exif, ExifTags.IFD.GPSInfo)
    readers = {
        "date": lambda: _date(info),
        "latitude": lambda: _coordinate(gps, _LAT, _LAT_REF, "NS", 90),
        "longitude": lambda: _coordinate(gps, _LON, _LON_REF, "EW", 180),
        "altitude": lambda: _altitude(gps),
        "camera_make": lambda: _text(exif.get(_MAKE)),
        "camera_model": lambda: _text(exif.get(_MODEL)),
    }
    for column in EXIF_COLUMNS:
        _put(values, unreadable, column, readers[column])
    return values, unreadable


def _put(values: dict, unreadable: dict, column: str, read) -> None:
    try:
        value = read()
    except BadValue as exc:
        unreadable[column] = str(exc)
        return
    except Exception as exc:  # a tag of the wrong type or shape
        unreadable[column] = f"malformed tag ({type(exc).__name__})"
        return
    if value is not None:
        values[column] = value


def _ifd(exif: Image.Exif, which: int) -> dict:
    try:
        return exif.get_ifd(which)
    except Exception:
        return {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).replace("\x00", "").strip() or None


def _date(ifd: dict) -> str | None:
    raw = _text(ifd.get(_DATETIME_ORIGINAL))
    # a camera whose clock was never set writes zeros or blanks: unknown, not unreadable
    if raw is None or raw.replace(":", "").replace(" ", "").strip("0") == "":
        return None
    offset = _text(ifd.get(_OFFSET_TIME_ORIGINAL))
    return normalize_date(raw + (offset or ""))


def _rational(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise BadValue("a rational with a zero denominator")
    return number


def _coordinate(gps: dict, tag: int, ref_tag: int, refs: str, limit: float) -> float | None:
    value = gps.get(tag)
    if value is None:
        return None
    parts = [_rational(v) for v in (value if isinstance(value, tuple) else (value,))]
    degrees = sum(p / 60**i for i, p in enumerate(parts[:3]))
    ref = _text(gps.get(ref_tag))
    if ref is None or ref.upper()[:1] not in refs:
        raise BadValue(f"no {refs[0]}/{refs[1]} reference for the coordinate")
    if degrees > limit:
        raise BadValue(f"{degrees:g} degrees is beyond {limit:g}")
    return -degrees if ref.upper()[:1] == refs[1] else degrees


def _altitude(gps: dict) -> float | None:
    value = gps.get(_ALT)
    if value is None:
        return None
    metres = _rational(value)
    ref = gps.get(_ALT_REF, 0)
    below = (ref[:1] == b"\x01") if isinstance(ref, bytes) else int(ref) == 1
    return -metres if below else metres
