"""Month of the year and hour of the day of every capture, derived once from the metadata's ``date`` column.

Ecologists ask *when* in the year (seasons across years: a month filter) and *when* in the day
(nocturnal behaviour: an hour filter). Both are read once, at load, into one byte per row (for
display and counts) and one bit per row among 16 or 32 (:func:`as_bits`), so a filter on any set
of months or hours is one AND and one comparison over five million rows rather than a parse, or a
gather through a lookup table (measured 0.7 ms against 8-70 ms on two busy cores).

The hour is the **clock time as written**: ``inquire embed`` writes the local time of the capture
(EXIF, Camtrap DP and COCO Camera Traps timestamps are local), and an offset after it
(``+02:00``) is not applied. The published iNat24 metadata writes UTC times
(``2018-05-13 09:12:00+00:00``), so its hours are UTC hours, not the photographer's. A date-only
value (``2018-05-13``) has a month but no hour.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: A row's month (1-12) where its date is unknown.
NO_MONTH = 0
#: A row's hour (0-23) where its date has no clock time.
NO_HOUR = 255


def as_bits(values: np.ndarray, unknown: int, dtype: type) -> np.ndarray:
    """``1 << value`` per row (0 where ``unknown``): a set of months or hours is then one bit mask."""
    known = values != unknown
    return np.where(known, np.left_shift(dtype(1), np.where(known, values, 0).astype(dtype)), 0).astype(dtype)


def wanted_bits(values: list[int] | range, dtype: type) -> np.generic:
    """The bit mask of a set of months or hours, to AND with :func:`as_bits`."""
    return dtype(sum(1 << v for v in set(values)))


def months(day: np.ndarray, no_day: int) -> np.ndarray:
    """Month (1-12, :data:`NO_MONTH` where ``day`` is ``no_day``) of days counted from 1970-01-01, as uint8.

    A lookup table over the collection's span of days, then one gather: the calendar arithmetic
    runs once per distinct day, not once per row.
    """
    out = np.full(len(day), NO_MONTH, dtype=np.uint8)
    known = day != no_day
    if not known.any():
        return out
    lo, hi = int(day[known].min()), int(day[known].max())
    span = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]")
    table = (span.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.uint8)
    picked = np.clip(day.astype(np.int64) - lo, 0, hi - lo)
    np.copyto(out, table[picked], where=known)
    return out


def hours(column: pa.ChunkedArray, known_day: np.ndarray) -> np.ndarray:
    """Hour of the clock time written in each date (0-23, :data:`NO_HOUR` where there is none), as uint8.

    Strings are read as ``YYYY-MM-DD[T ]HH:MM...``: the two digits after the date and its ``T``
    or space, followed by ``:``. Timestamp columns give their hour in their own time zone (the
    local clock where the zone is set). ``known_day`` (rows whose date parsed) guards against a
    string that only looks like a time.
    """
    if pa.types.is_timestamp(column.type):
        hour = pc.hour(column).fill_null(NO_HOUR).to_numpy(zero_copy_only=False).astype(np.uint8)
    elif pa.types.is_date(column.type):
        hour = np.full(len(column), NO_HOUR, dtype=np.uint8)
    else:
        text = column.cast(pa.string())
        hour = np.concatenate([_string_hours(chunk) for chunk in text.chunks]) if text.num_chunks else np.zeros(0, np.uint8)
    return np.where(known_day, hour, NO_HOUR).astype(np.uint8)


def _string_hours(chunk: pa.StringArray) -> np.ndarray:
    """The hour digits of each string, read straight from the Arrow buffers (no Python string per row).

    Measured on five million dates: 30 ms, against 370 ms for slicing and casting with Arrow's
    compute functions.
    """
    n = len(chunk)
    _, offsets_buf, data_buf = chunk.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=4 * chunk.offset)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    start, length = offsets[:-1].astype(np.int64), np.diff(offsets)
    ok = length >= 16  # YYYY-MM-DDTHH:MM
    if chunk.null_count:
        ok &= chunk.is_valid().to_numpy(zero_copy_only=False)
    if not ok.any():
        return np.full(n, NO_HOUR, dtype=np.uint8)
    at = np.where(ok, start, 0)
    sep, colon = data[at + 10], data[at + 13]
    tens, ones = data[at + 11].astype(np.int16) - 48, data[at + 12].astype(np.int16) - 48
    ok &= ((sep == ord("T")) | (sep == ord(" "))) & (colon == ord(":"))
    ok &= (tens >= 0) & (tens <= 2) & (ones >= 0) & (ones <= 9)
    hour = tens * 10 + ones
    ok &= hour <= 23
    return np.where(ok, hour, NO_HOUR).astype(np.uint8)
