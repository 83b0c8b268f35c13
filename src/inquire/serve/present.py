"""Rows of a ranked result → what a person (or a CSV) sees: species, date and time, place, site, attribution, label."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .clock import NO_HOUR, NO_MONTH
from .engine import Hits, SearchEngine
from .labels import LabelStore, consensus_of
from .metadata import SITE_COLUMNS
from .schemas import ResultItem


def result_items(engine: SearchEngine, labels: LabelStore | None, query: str, hits: Hits, annotator: str | None = None) -> list[ResultItem]:
    """The ranked results with display fields, every metadata column and this query's judgements (if
    ``labels``): their consensus, ``annotator``'s own, and everyone's."""
    meta = engine.meta
    records = meta.records(hits.rows)
    ids = [str(rec[meta.id_column]) for rec in records]  # as meta.image_ids, without reading the rows twice
    meta.remember(ids, hits.rows)  # the images a person labels are those shown: their rows are then known
    months = meta.month[hits.rows] if meta.month is not None else np.full(len(hits.rows), NO_MONTH)
    hours = meta.hour[hits.rows] if meta.hour is not None else np.full(len(hits.rows), NO_HOUR)
    judged = labels.judgements(query, ids) if labels is not None else {}
    images = engine.images is not None
    out = []
    for i, (row, rec, image_id) in enumerate(zip(hits.rows.tolist(), records, ids)):
        rec = {k: _plain(v) for k, v in rec.items()}
        lat, lon = clean_number(rec, meta.latitude_column), clean_number(rec, meta.longitude_column)
        out.append(ResultItem(
            rank=i + 1,
            row=row,
            score=float(hits.scores[i]) if math.isfinite(hits.scores[i]) else None,
            first_stage_score=float(hits.first_stage[i]) if hits.first_stage is not None else None,
            rerank_error=hits.rerank_errors.get(i),
            image_id=image_id,
            image_path=str(rec["image_path"]),
            species=species(rec, meta.species_column),
            iconic_group=clean_text(rec.get(meta.iconic_column)) if meta.iconic_column else None,
            date=_day(rec.get(meta.date_column)) if meta.date_column else None,
            time=clock_time(rec.get(meta.date_column), int(hours[i])) if meta.date_column else None,
            month=int(months[i]) if months[i] != NO_MONTH else None,
            hour=int(hours[i]) if hours[i] != NO_HOUR else None,
            latitude=lat,
            longitude=lon,
            place=place(lat, lon, clean_number(rec, "location_uncertainty")),
            site=site(rec),
            license=clean_text(rec.get("license")),
            rights_holder=clean_text(rec.get("rights_holder")),
            attribution=attribution(rec.get("rights_holder"), rec.get("license")),
            thumbnail_url=f"/api/images/{row}/thumbnail" if images else None,
            image_url=f"/api/images/{row}" if images else None,
            label=consensus_of(judged[image_id].values()) if image_id in judged else None,
            my_label=judged.get(image_id, {}).get(annotator),
            judgements=judged.get(image_id, {}),
            metadata=rec,
        ))
    return out


def species(rec: dict, column: str | None) -> str | None:
    """Scientific name, with the common name in parentheses when the metadata has one."""
    name = clean_text(rec.get(column)) if column else None
    common = clean_text(rec.get("common_name"))
    if name and common and common != name:
        return f"{name} ({common})"
    return name or common


def place(lat: float | None, lon: float | None, uncertainty: float | None) -> str | None:
    """``lat, lon`` to four decimals (about 10 m), with ``±N m`` when the uncertainty is known."""
    if lat is None or lon is None:
        return None
    text = f"{lat:.4f}, {lon:.4f}"
    return text + (f" ±{uncertainty:g} m" if uncertainty is not None else "")


def site(rec: dict) -> str | None:
    """The site's name, with its id in parentheses when both are known and differ."""
    location_id, name = (clean_text(rec.get(c)) for c in SITE_COLUMNS)
    if name and location_id and location_id != name:
        return f"{name} ({location_id})"
    return name or location_id


def clock_time(value: Any, hour: int) -> str | None:
    """``HH:MM`` of the clock time written in a date (None for a date without one).

    ``hour`` is the hour the metadata derived for the row (:mod:`.clock`), known only where the
    text reads ``YYYY-MM-DD[T ]HH:MM`` (a timestamp column's values print so too).
    """
    return None if hour == NO_HOUR or value is None else str(value)[11:16]


def attribution(rights_holder: Any, license: Any) -> str:
    """The credit line iNaturalist licences ask for: ``© holder · licence``."""
    holder, lic = clean_text(rights_holder), clean_text(license)
    if holder and lic:
        return f"© {holder} · {lic}"
    if holder:
        return f"© {holder} · licence unknown"
    return f"{lic} · rights holder unknown" if lic else "Rights holder and licence unknown"


def _day(value: Any) -> str | None:
    """The calendar day of a date or timestamp: its first ten characters (``YYYY-MM-DD``)."""
    text = clean_text(value)
    return text[:10] if text else None


def clean_text(value: Any) -> str | None:
    """A metadata cell as trimmed text; None for missing, NaN and blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def clean_number(rec: dict, name: str | None) -> float | None:
    """The finite number in ``rec[name]``; None for a missing column, text, NaN or infinity."""
    value = rec.get(name) if name else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """JSON-safe metadata values: NaN → None, dates and other objects → text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
