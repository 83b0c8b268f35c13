"""Metadata filters, turned into the boolean row mask that the similarity search takes as ``allowed``.

Filtering before ranking (not after) is what makes a filtered search return k results: the
search keeps the best k among the allowed rows. All filters given apply together (AND). A name
that the collection does not hold is an error with suggestions rather than an empty result,
since an ecologist who typed "Aves" where the column says "Birds" should be told, not shown
nothing.

A mask is the AND of one part per filter (the months, the hours, the box, each ``where`` clause
...). :func:`build_mask` takes a cache of parts, so a user who drags a new box over the same months
and hours pays for the box alone.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import InquireError
from .clauses import Clause, clause_mask
from .clock import wanted_bits
from .metadata import NO_DAY, Coded, Metadata

_EPOCH = dt.date(1970, 1, 1)
MAX_WHERE = 20
MAX_CLAUSE_CHARS = 300
_MONTH_RANGE = re.compile(r"^(\d{1,2})\s*(?:-\s*(\d{1,2}))?$")
#: A part's cache: ``cache(key, compute)`` returns the part called ``key``, computing it only if absent.
PartCache = Callable[[str, Callable[[], np.ndarray]], np.ndarray]


class Filters(BaseModel):
    """Restrict a search to images whose metadata match every field given."""

    model_config = ConfigDict(extra="forbid")

    iconic_group: str | None = Field(None, max_length=100, description="iNaturalist iconic group (e.g. Birds, Plants), as the collection names it.")
    taxon: str | None = Field(None, max_length=200, description="A taxon name at any level (kingdom … species, or a common name); case-blind.")
    date_from: dt.date | None = Field(None, description="Observed on or after this day (YYYY-MM-DD).")
    date_to: dt.date | None = Field(None, description="Observed on or before this day (YYYY-MM-DD).")
    lat_min: float | None = Field(None, ge=-90, le=90, description="Southern edge of the box, degrees.")
    lat_max: float | None = Field(None, ge=-90, le=90, description="Northern edge of the box, degrees.")
    lon_min: float | None = Field(None, ge=-180, le=180, description="Western edge, degrees; greater than lon_max for a box across the antimeridian.")
    lon_max: float | None = Field(None, ge=-180, le=180, description="Eastern edge, degrees.")
    months: list[int] | None = Field(
        None, description="Captured in one of these months (1-12) of any year, e.g. [6, 7, 8]; "
                          "also written '6,7,8' or as ranges '6-8', '11-2' (across the new year).")
    hour_from: int | None = Field(
        None, ge=0, le=23, description="Captured at or after this hour (0-23) of the clock time written in the date; "
                                       "greater than hour_to for a range across midnight (22 to 4).")
    hour_to: int | None = Field(None, ge=0, le=23, description="Captured at or before this hour, inclusive (4 keeps 04:59).")
    site: str | None = Field(None, max_length=200, description="A site: its location_id or location_name, case-blind.")
    where: list[str] | None = Field(
        None, max_length=MAX_WHERE,
        description="Conditions on any metadata column, all of which must hold: COLUMN=VALUE or COLUMN!=VALUE "
                    "(text case-blind, true/false, numbers), and COLUMN<VALUE, <=, >, >= for numeric columns.")

    @field_validator("months", mode="before")
    @classmethod
    def _months(cls, value: object) -> list[int] | None:
        return parse_months(value)

    @field_validator("where", mode="before")
    @classmethod
    def _clauses(cls, value: object) -> list[str] | None:
        items = [value] if isinstance(value, str) else value
        if items is None:
            return None
        if not isinstance(items, list):
            raise ValueError("give a list of COLUMN=VALUE clauses")
        clauses = []
        for item in items:
            if not isinstance(item, str) or len(item) > MAX_CLAUSE_CHARS:
                raise ValueError(f"each clause is text of at most {MAX_CLAUSE_CHARS} characters")
            if item.strip():
                clauses.append(str(Clause.parse(item)))
        return sorted(set(clauses)) or None  # one spelling per set of clauses: one cached mask

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from ({self.date_from}) is after date_to ({self.date_to})")
        if self.lat_min is not None and self.lat_max is not None and self.lat_min > self.lat_max:
            raise ValueError(f"lat_min ({self.lat_min}) is north of lat_max ({self.lat_max})")
        for name in ("iconic_group", "taxon", "site"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                setattr(self, name, None)
        return self

    def active(self) -> bool:
        """Whether any filter is set."""
        return any(v is not None for v in self.model_dump(include=set(Filters.model_fields)).values())


def parse_filters(fields: dict, name_of: Callable[[str], str] = str) -> Filters:
    """``Filters(**fields)``, a mistake reported as an :class:`InquireError` that names the field
    (``name_of`` turns a field name into what the user typed, e.g. a CLI option)."""
    try:
        return Filters(**fields)
    except ValidationError as exc:
        raise InquireError(
            "Invalid filter: " + "; ".join(
                f"{name_of(str(e['loc'][0])) + ': ' if e['loc'] else ''}{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
        ) from None


def parse_months(value: object) -> list[int] | None:
    """Months as a sorted list without repeats, from ints, '6,7,8', ranges '6-8' / '11-2', or a list of those."""
    if value is None:
        return None
    out: set[int] = set()
    for item in value if isinstance(value, (list, tuple, set)) else [value]:
        if isinstance(item, bool):
            raise ValueError("months are numbers 1-12")
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            found = _MONTH_RANGE.match(part)
            if found is None:
                raise ValueError(f"{part!r} is not a month: give numbers 1-12, lists 6,7,8 or ranges 6-8")
            first, last = int(found[1]), int(found[2] or found[1])
            if not (1 <= first <= 12 and 1 <= last <= 12):
                raise ValueError(f"{part!r} is not a month (1-12)")
            out.update(range(first, last + 1) if first <= last else [*range(first, 13), *range(1, last + 1)])
    return sorted(out) or None


def build_mask(meta: Metadata, f: Filters, cache: PartCache | None = None) -> np.ndarray | None:
    """The rows that pass every filter of ``f`` (None when no filter is set: every row passes).

    Raises :class:`InquireError` for a filter the collection cannot answer (no such column, no
    such name). ``cache`` keeps the parts (see the module's docstring); the mask returned is new.
    """
    mask = None
    for key, compute in _parts(meta, f):
        part = cache(key, compute) if cache is not None else compute()
        mask = part.copy() if mask is None else np.logical_and(mask, part, out=mask)
    return mask


def _parts(meta: Metadata, f: Filters) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """One (key, compute) per filter given; a key names the part's result whatever else is set."""
    parts: list[tuple[str, Callable[[], np.ndarray]]] = []
    if f.iconic_group is not None:
        parts.append((f"iconic_group={f.iconic_group.strip().lower()}", lambda: _iconic_mask(meta, f.iconic_group)))
    if f.taxon is not None:
        parts.append((f"taxon={f.taxon.strip().lower()}", lambda: _taxon_mask(meta, f.taxon)))
    if f.date_from is not None or f.date_to is not None:
        parts.append((f"dates={f.date_from}..{f.date_to}", lambda: _date_mask(meta, f.date_from, f.date_to)))
    if any(v is not None for v in (f.lat_min, f.lat_max, f.lon_min, f.lon_max)):
        parts.append((f"box={f.lat_min},{f.lat_max},{f.lon_min},{f.lon_max}", lambda: _box_mask(meta, f)))
    if f.months is not None:
        parts.append((f"months={f.months}", lambda: _months_mask(meta, f.months)))
    if f.hour_from is not None or f.hour_to is not None:
        parts.append((f"hours={f.hour_from}..{f.hour_to}", lambda: _hours_mask(meta, f.hour_from, f.hour_to)))
    if f.site is not None:
        parts.append((f"site={f.site.strip().lower()}", lambda: _site_mask(meta, f.site)))
    for text in f.where or ():
        clause = Clause.parse(text)
        parts.append((f"where {clause}", lambda clause=clause: clause_mask(meta, clause)))
    return parts


def _iconic_mask(meta: Metadata, group: str) -> np.ndarray:
    if meta.iconic is None:
        raise InquireError("This collection's metadata has no iconic group column; drop the iconic_group filter.")
    hit = meta.iconic.match(group)
    if hit is None:
        raise InquireError(f"Unknown iconic group {group!r}; the collection has: {', '.join(meta.iconic.values[:30])}.")
    return hit


def _date_mask(meta: Metadata, first: dt.date | None, last: dt.date | None) -> np.ndarray:
    if meta.day is None:
        raise InquireError("This collection's metadata has no date column; drop the date filters.")
    lo = (first - _EPOCH).days if first else NO_DAY + 1
    hi = (last - _EPOCH).days if last else np.iinfo(np.int32).max
    return (meta.day >= lo) & (meta.day <= hi)


def _box_mask(meta: Metadata, f: Filters) -> np.ndarray:
    """Rows inside the box; rows without coordinates (NaN) never are.

    NaN fails every comparison, so only a coordinate with no edge given needs its own NaN test.
    """
    if meta.latitude is None or meta.longitude is None:
        raise InquireError("This collection's metadata has no latitude/longitude; drop the coordinate filters.")
    lat, lon, west, east = meta.latitude, meta.longitude, f.lon_min, f.lon_max
    tests = [lat >= f.lat_min] if f.lat_min is not None else []
    tests += [lat <= f.lat_max] if f.lat_max is not None else []
    tests += [~np.isnan(lat)] if not tests else []
    if west is not None and east is not None and west > east:  # across the antimeridian
        tests.append((lon >= west) | (lon <= east))
    else:
        tests += [lon >= west] if west is not None else []
        tests += [lon <= east] if east is not None else []
        tests += [~np.isnan(lon)] if west is None and east is None else []
    mask = tests[0]
    for test in tests[1:]:
        mask &= test
    return mask


def _months_mask(meta: Metadata, wanted: list[int]) -> np.ndarray:
    """Rows whose month bit is among ``wanted``'s (rows without a date have none)."""
    if meta.month_bits is None:
        raise InquireError("This collection's metadata has no date column; drop the months filter.")
    return (meta.month_bits & wanted_bits(wanted, np.uint16)) != 0


def _hours_mask(meta: Metadata, first: int | None, last: int | None) -> np.ndarray:
    """Rows whose clock hour lies in [first, last] (wrapping past midnight when first > last)."""
    if meta.hour_bits is None or not meta.facets()["n_with_hour"]:
        raise InquireError("This collection's dates carry no clock time (or there is no date column); drop the hour filters.")
    first = 0 if first is None else first
    last = 23 if last is None else last
    hours = range(first, last + 1) if first <= last else [*range(first, 24), *range(0, last + 1)]
    return (meta.hour_bits & wanted_bits(hours, np.uint32)) != 0


def _site_mask(meta: Metadata, site: str) -> np.ndarray:
    """Rows whose location_id or location_name is ``site`` (case-blind)."""
    if not meta.sites:
        raise InquireError("This collection's metadata has no site columns (location_id, location_name); drop the site filter.")
    return _in_any(meta.sites, site, f"No image in this collection was taken at the site {site!r} ({' or '.join(meta.sites)}).")


def _taxon_mask(meta: Metadata, taxon: str) -> np.ndarray:
    if not meta.taxonomy:
        raise InquireError("This collection's metadata has no taxonomy columns; drop the taxon filter.")
    return _in_any(meta.taxonomy, taxon, f"No image in this collection has the taxon {taxon!r} at any level ({', '.join(meta.taxonomy)}).")


def _in_any(columns: dict[str, Coded], name: str, not_found: str) -> np.ndarray:
    """Rows where any of ``columns`` holds ``name`` (case-blind); else ``not_found``, with the closest names, as an error."""
    hits = [hit for coded in columns.values() if (hit := coded.match(name)) is not None]
    if not hits:
        candidates = {v for coded in columns.values() for v in coded.close(name)}
        close = difflib.get_close_matches(name, list(candidates), n=5, cutoff=0.6)  # the best five across the columns
        raise InquireError(not_found + (f" Close names: {', '.join(close)}." if close else ""))
    return np.logical_or.reduce(hits)
