"""The place-and-time columns of an embedding folder's metadata, and how several sources of them merge.

One contract, shared with the search app (README, *Place and time*): the names agree with the published
iNat24 metadata (``date``, ``latitude``, ``longitude``, ``location_uncertainty``, ``license``,
``rights_holder``) and add what photos, camera traps and Darwin Core tables know. A value is
normalised once, here, so every reader parses one form: ``date`` is the LOCAL clock time of the
capture as ``YYYY-MM-DDTHH:MM:SS`` plus ``±HH:MM`` or ``Z`` when the offset is known, or a bare
``YYYY-MM-DD`` when no time is.

A collection can know a value from several *tiers* — a sidecar table (``--metadata``), the source
itself (a Camtrap DP package, a COCO Camera Traps or iNat JSON) and the photo's EXIF — and
:func:`merge` takes the first that has one, in that order. Nothing is made up and nothing is lost
silently: a value that cannot be read becomes null and is counted as *unreadable* for its tier,
and the merge counts, per column, which tier supplied each value and where tiers disagreed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: canonical column → its Arrow type (contract order)
COLUMNS: dict[str, pa.DataType] = {
    "date": pa.string(),
    "latitude": pa.float64(),
    "longitude": pa.float64(),
    "altitude": pa.float64(),
    "location_uncertainty": pa.float64(),
    "camera_make": pa.string(),
    "camera_model": pa.string(),
    "scientific_name": pa.string(),
    "common_name": pa.string(),
    "location_id": pa.string(),
    "location_name": pa.string(),
    "recorded_by": pa.string(),
    "license": pa.string(),
    "rights_holder": pa.string(),
}

#: Darwin Core term → canonical column (a sidecar may also use the canonical names themselves)
DARWIN_CORE: dict[str, str] = {
    "eventDate": "date",
    "decimalLatitude": "latitude",
    "decimalLongitude": "longitude",
    "coordinateUncertaintyInMeters": "location_uncertainty",
    "scientificName": "scientific_name",
    "vernacularName": "common_name",
    "locationID": "location_id",
    "recordedBy": "recorded_by",
    "license": "license",
    "rightsHolder": "rights_holder",
}

#: several values of one image (a camera-trap photo of two species) are joined with this
JOINER = " | "


def joined(values: Iterable[Any]) -> str | None:
    """The distinct non-empty ``values`` as text, in their order, joined with :data:`JOINER`; None if none."""
    distinct = list(dict.fromkeys(str(v).strip() for v in values if v is not None and str(v).strip()))
    return JOINER.join(distinct) if distinct else None


class BadValue(ValueError):
    """A value present but unusable; the message says why (recorded among the examples)."""


_DATE = re.compile(
    r"^(\d{4})[-:/](\d{1,2})[-:/](\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)


def normalize_date(value: Any) -> str | None:
    """``value`` as the contract's date string; None when empty; :class:`BadValue` when unreadable.

    Reads ISO 8601 (``T`` or space, optional seconds and fractions, ``Z`` or ``±HH:MM``/``±HHMM``),
    EXIF's ``YYYY:MM:DD HH:MM:SS`` and ``/`` separators, and Python/Arrow datetimes (an aware
    one keeps its offset; the clock time is never shifted). Intervals (``A/B``) and partial dates
    (``2019-05``) are not one capture time and count as unreadable.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _format(value.replace(microsecond=0), _offset_text(value.utcoffset()))
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    m = _DATE.match(text)
    if m is None:
        raise BadValue("not a single date or date and time")
    y, mo, d, h, mi, s, tz = m.groups()
    try:
        day = dt.date(int(y), int(mo), int(d))
        if h is None:
            return day.isoformat()
        clock = dt.datetime(day.year, day.month, day.day, int(h), int(mi), int(s or 0))
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    return _format(clock, _offset(tz))


def _format(clock: dt.datetime, offset: str) -> str:
    return clock.strftime("%Y-%m-%dT%H:%M:%S") + offset


def _offset(tz: str | None) -> str:
    """``Z``, ``+0200``, ``+02``, ``+02:00`` → ``Z`` / ``+02:00``; an impossible offset is a BadValue."""
    if not tz:
        return ""
    if tz == "Z":
        return "Z"
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 14 or minutes >= 60:
        raise BadValue(f"no such UTC offset {tz}")
    return f"{tz[0]}{hours:02d}:{minutes:02d}"


def _offset_text(delta: dt.timedelta | None) -> str:
    if delta is None:
        return ""
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _number(lo: float, hi: float) -> Callable[[Any], float | None]:
    def parse(value: Any) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            raise BadValue("a boolean, not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadValue("not a number") from None
        if not math.isfinite(number):
            if math.isnan(number):
                return None  # a float column's missing value
            raise BadValue("not a finite number")
        if not lo <= number <= hi:
            raise BadValue(f"outside [{lo:g}, {hi:g}]")
        return number

    return parse


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    name: _text for name, kind in COLUMNS.items() if kind == pa.string()
} | {
    "date": normalize_date,
    "latitude": _number(-90.0, 90.0),
    "longitude": _number(-180.0, 180.0),
    "altitude": _number(-12_000.0, 100_000.0),
    "location_uncertainty": _number(0.0, 20_100_000.0),
}


@dataclass
class Parsed:
    """One column of one tier: the values (null where missing or unreadable) and which were unreadable."""

    values: pa.Array
    unreadable: np.ndarray  # bool per row
    examples: list[dict] = field(default_factory=list)  # first few: row, value, reason


def parse_column(name: str, values: Sequence[Any] | pa.Array, *, rows: Sequence[Any] | None = None,
                 max_examples: int = 5) -> Parsed:
    """Normalise raw ``values`` of canonical column ``name``; ``rows`` name each value in examples."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_pylist()
    normalize = NORMALIZERS[name]
    out: list[Any] = []
    bad = np.zeros(len(values), dtype=bool)
    examples: list[dict] = []
    for i, raw in enumerate(values):
        try:
            out.append(normalize(raw))
        except BadValue as exc:
            out.append(None)
            bad[i] = True
            if len(examples) < max_examples:
                examples.append({"row": rows[i] if rows is not None else i, "value": str(raw)[:80],
                                 "reason": str(exc)})
    return Parsed(pa.array(out, type=COLUMNS[name]), bad, examples)


# ------------------------------------------------------------------------------------------ merging


@dataclass
class Tier:
    """What one source knows about a block of items: a table aligned with the items (``image_path``
    excluded) and, per canonical column, which rows held a value that could not be read."""

    name: str
    table: pa.Table
    unreadable: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> Tier:
        index = pa.array(np.asarray(rows, dtype=np.int64))
        return Tier(self.name, self.table.take(index), {c: m[rows] for c, m in self.unreadable.items()})


def output_types(schemas: Sequence[pa.Schema]) -> dict[str, pa.DataType]:
    """Column → type of the merged table, from the tiers' schemas alone (so every shard agrees):
    a column one tier has keeps its type; a canonical column several have takes the contract's;
    any other column several have keeps a shared type, else becomes text."""
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, []).append(f.type)
    out = {}
    for name, seen in types.items():
        if len(seen) == 1:
            out[name] = seen[0]
        elif name in COLUMNS:
            out[name] = COLUMNS[name]
        else:
            out[name] = seen[0] if all(t == seen[0] for t in seen) else pa.string()
    return out


def merge(tiers: Sequence[Tier], lead: str | None = None) -> tuple[pa.Table, dict[str, dict]]:
    """One table from ``tiers`` (highest precedence first, equal row counts): each cell from the first
    tier with a value, except that a date-only ``date`` is completed by a lower tier's time of
    the same day (a sidecar's ``2021-05-31`` and the EXIF's ``2021-05-31T08:25:38`` agree; the
    time is kept). Columns: the ``lead`` tier's (the source's own order), then the canonical ones
    in contract order, then the rest as they first appear. Also per column: ``values``,
    ``missing``, ``from`` (tier → values supplied), ``unreadable`` (tier → values it could not
    read) and ``disagreements`` (``"A over B"`` → rows where both had a value, they differed and
    A's was taken)."""
    ordered = sorted(tiers, key=lambda t: t.name != lead)
    types = output_types([t.table.schema for t in ordered])
    first = list(ordered[0].table.column_names) if lead is not None and ordered[0].name == lead else []
    names = list(dict.fromkeys([*first, *(c for c in COLUMNS if c in types), *types]))
    # a tier without columns (a sidecar that only names photos) adds nothing, and Arrow does not
    # keep a column-less table's row count through take(): the rows are counted where there are columns
    n = next((t.table.num_rows for t in tiers if t.table.num_columns), 0)
    columns: dict[str, pa.Array] = {}
    stats: dict[str, dict] = {}
    for name in names:
        having = [t for t in tiers if name in t.table.column_names]
        arrays = [_as(name, t.table.column(name), types[name]) for t in having]
        valid = np.array([a.is_valid().to_numpy(zero_copy_only=False) for a in arrays]).reshape(len(arrays), n)
        winner = np.where(valid.any(axis=0), valid.argmax(axis=0), -1)
        if name == "date" and len(arrays) > 1:
            winner = _complete_dates(arrays, valid, winner)
        merged = pa.nulls(n, types[name])
        for i in reversed(range(len(arrays))):
            merged = pc.if_else(pa.array(winner == i), arrays[i], merged)
        columns[name] = merged
        stats[name] = _stats(name, having, arrays, valid, winner)
    return pa.table(columns), stats


def _complete_dates(arrays: list[pa.Array], valid: np.ndarray, winner: np.ndarray) -> np.ndarray:
    """Rows whose winning date has no time take the first lower tier's value that extends it."""
    values = [a.to_pylist() for a in arrays]
    winner = winner.copy()
    for row in np.flatnonzero(winner >= 0):
        best = values[winner[row]][row]
        if "T" in best or " " in best:
            continue
        for i in range(winner[row] + 1, len(arrays)):
            if valid[i, row] and len(values[i][row]) > len(best) and values[i][row].startswith(best):
                winner[row] = i
                break
    return winner


def _as(name: str, column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    """A tier's column in the merged type: as it is, else cast (an iNat licence id as text), else
    read value by value (a canonical column's unreadable values become null)."""
    column = column.combine_chunks()
    if column.type == kind:
        return column
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if name in COLUMNS:
            return parse_column(name, column).values
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], type=kind)


def _stats(name: str, having: list[Tier], arrays: list[pa.Array], valid: np.ndarray, winner: np.ndarray) -> dict:
    supplied = {t.name: int((winner == i).sum()) for i, t in enumerate(having) if (winner == i).any()}
    disagreements: Counter = Counter()
    for w in range(len(arrays)):
        for i in range(len(arrays)):
            both = (winner == w) & valid[i]
            if i == w or not both.any():
                continue
            mask = pa.array(both)
            differ = _differ(arrays[w].filter(mask), arrays[i].filter(mask))
            if differ:
                disagreements[f"{having[w].name} over {having[i].name}"] += differ
    unreadable = {t.name: int(t.unreadable[name].sum()) for t in having
                  if name in t.unreadable and t.unreadable[name].any()}
    n_values = int((winner >= 0).sum())
    out: dict[str, Any] = {"values": n_values, "missing": len(winner) - n_values, "from": supplied}
    if unreadable:
        out["unreadable"] = unreadable
    if disagreements:
        out["disagreements"] = dict(disagreements)
    return out


def _differ(winner: pa.Array, loser: pa.Array) -> int:
    """Rows whose two values differ: numbers beyond 1e-6, dates unless one is the other's prefix
    (``2021-05-31`` agrees with ``2021-05-31T08:25:38+02:00``), other values as text."""
    a, b = winner.to_pylist(), loser.to_pylist()
    count = 0
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            count += abs(x - y) > 1e-6
        else:
            sx, sy = str(x), str(y)
            count += not (sx.startswith(sy) or sy.startswith(sx)) if _looks_dated(sx, sy) else sx != sy
    return count


def _looks_dated(*texts: str) -> bool:
    return all(len(t) >= 10 and t[4] == "-" and t[7] == "-" for t in texts)


def add_stats(total: dict[str, dict], part: dict[str, dict]) -> dict[str, dict]:
    """Sum per-column merge statistics (of shards) into ``total``; returns it."""
    for name, stats in part.items():
        into = total.setdefault(name, {})
        for key, value in stats.items():
            if isinstance(value, dict):
                sub = into.setdefault(key, {})
                for k, v in value.items():
                    sub[k] = sub.get(k, 0) + v
            else:
                into[key] = into.get(key, 0) + value
    return total
