"""Metadata filters, turned into the boolean row mask that the similarity search takes as ``allowed``.

Filtering before ranking (not after) is what makes a filtered search return k results: the
search keeps the best k among the allowed rows. All filters given apply together (AND). A name
that the collection does not hold is an error with suggestions rather than an empty result,
since an ecologist who typed "Aves" where the column says "Birds" should be told, not shown
nothing.
"""

from __future__ import annotations

import datetime as dt
import difflib

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InquireError
from .metadata import NO_DAY, Metadata

_EPOCH = dt.date(1970, 1, 1)


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

    @model_validator(mode="after")
    def _ordered(self) -> Filters:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from ({self.date_from}) is after date_to ({self.date_to})")
        if self.lat_min is not None and self.lat_max is not None and self.lat_min > self.lat_max:
            raise ValueError(f"lat_min ({self.lat_min}) is north of lat_max ({self.lat_max})")
        for name in ("iconic_group", "taxon"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                setattr(self, name, None)
        return self

    def active(self) -> bool:
        """Whether any filter is set."""
        return any(v is not None for v in self.model_dump(include=set(Filters.model_fields)).values())


def parse_filters(fields: dict) -> Filters:
    """``Filters(**fields)``, a mistake reported as an :class:`InquireError` that names the field."""
    try:
        return Filters(**fields)
    except ValidationError as exc:
        raise InquireError(
            "Invalid filter: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
        ) from None


def build_mask(meta: Metadata, f: Filters) -> np.ndarray | None:
    """The rows that pass every filter of ``f`` (None when no filter is set: every row passes).

    Raises :class:`InquireError` for a filter the collection cannot answer (no such column, no
    such name).
    """
    if not f.active():
        return None
    mask = np.ones(meta.n_rows, dtype=bool)
    if f.iconic_group is not None:
        if meta.iconic is None:
            raise InquireError("This collection's metadata has no iconic group column; drop the iconic_group filter.")
        hit = meta.iconic.match(f.iconic_group)
        if hit is None:
            raise InquireError(f"Unknown iconic group {f.iconic_group!r}; the collection has: {', '.join(meta.iconic.values[:30])}.")
        mask &= hit
    if f.taxon is not None:
        mask &= _taxon_mask(meta, f.taxon)
    if f.date_from is not None or f.date_to is not None:
        if meta.day is None:
            raise InquireError("This collection's metadata has no date column; drop the date filters.")
        lo = (f.date_from - _EPOCH).days if f.date_from else NO_DAY + 1
        hi = (f.date_to - _EPOCH).days if f.date_to else np.iinfo(np.int32).max
        mask &= (meta.day >= lo) & (meta.day <= hi)
    if any(v is not None for v in (f.lat_min, f.lat_max, f.lon_min, f.lon_max)):
        if meta.latitude is None or meta.longitude is None:
            raise InquireError("This collection's metadata has no latitude/longitude; drop the coordinate filters.")
        mask &= _box(meta.latitude, meta.longitude, f)
    return mask


def _taxon_mask(meta: Metadata, taxon: str) -> np.ndarray:
    if not meta.taxonomy:
        raise InquireError("This collection's metadata has no taxonomy columns; drop the taxon filter.")
    mask = np.zeros(meta.n_rows, dtype=bool)
    found = False
    for coded in meta.taxonomy.values():
        hit = coded.match(taxon)
        if hit is not None:
            mask |= hit
            found = True
    if not found:
        known = [v for coded in meta.taxonomy.values() for v in coded.values]
        close = difflib.get_close_matches(taxon, known, n=5, cutoff=0.6)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise InquireError(f"No image in this collection has the taxon {taxon!r} at any level ({', '.join(meta.taxonomy)}).{hint}")
    return mask


def _box(lat: np.ndarray, lon: np.ndarray, f: Filters) -> np.ndarray:
    """Rows inside the box; rows without coordinates (NaN) never are."""
    mask = ~(np.isnan(lat) | np.isnan(lon))
    if f.lat_min is not None:
        mask &= lat >= f.lat_min
    if f.lat_max is not None:
        mask &= lat <= f.lat_max
    west, east = f.lon_min, f.lon_max
    if west is not None and east is not None and west > east:  # across the antimeridian
        mask &= (lon >= west) | (lon <= east)
    else:
        if west is not None:
            mask &= lon >= west
        if east is not None:
            mask &= lon <= east
    return mask
