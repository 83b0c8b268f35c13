"""Rows of a ranked result → what a person (or a CSV) sees: species, date, place, attribution, label."""

from __future__ import annotations

import math
from typing import Any

from .engine import Hits, SearchEngine
from .labels import LabelStore, consensus_of
from .schemas import ResultItem


def result_items(engine: SearchEngine, labels: LabelStore | None, query: str, hits: Hits, annotator: str | None = None) -> list[ResultItem]:
    """The ranked results with display fields, every metadata column and this query's judgements (if
    ``labels``): their consensus, ``annotator``'s own, and everyone's."""
    meta = engine.meta
    records = meta.records(hits.rows)
    ids = [str(rec[meta.id_column]) for rec in records]  # as meta.image_ids, without reading the rows twice
    judged = labels.judgements(query, ids) if labels is not None else {}
    images = engine.images is not None
    out = []
    for i, (row, rec, image_id) in enumerate(zip(hits.rows.tolist(), records, ids)):
        rec = {k: _plain(v) for k, v in rec.items()}
        lat, lon = _number(rec, meta.latitude_column), _number(rec, meta.longitude_column)
        out.append(ResultItem(
            rank=i + 1,
            row=row,
            score=float(hits.scores[i]) if math.isfinite(hits.scores[i]) else None,
            first_stage_score=float(hits.first_stage[i]) if hits.first_stage is not None else None,
            rerank_error=hits.rerank_errors.get(i),
            image_id=image_id,
            image_path=str(rec["image_path"]),
            species=species(rec, meta.species_column),
            iconic_group=_text(rec.get(meta.iconic_column)) if meta.iconic_column else None,
            date=_day(rec.get(meta.date_column)) if meta.date_column else None,
            latitude=lat,
            longitude=lon,
            place=place(lat, lon, _number(rec, "location_uncertainty")),
            license=_text(rec.get("license")),
            rights_holder=_text(rec.get("rights_holder")),
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
    name = _text(rec.get(column)) if column else None
    common = _text(rec.get("common_name"))
    if name and common and common != name:
        return f"{name} ({common})"
    return name or common


def place(lat: float | None, lon: float | None, uncertainty: float | None) -> str | None:
    """``lat, lon`` to four decimals (about 10 m), with ``±N m`` when the uncertainty is known."""
    if lat is None or lon is None:
        return None
    text = f"{lat:.4f}, {lon:.4f}"
    return text + (f" ±{uncertainty:g} m" if uncertainty is not None else "")


def attribution(rights_holder: Any, license: Any) -> str:
    """The credit line iNaturalist licences ask for: ``© holder · licence``."""
    holder, lic = _text(rights_holder), _text(license)
    if holder and lic:
        return f"© {holder} · {lic}"
    if holder:
        return f"© {holder} · licence unknown"
    return f"{lic} · rights holder unknown" if lic else "Rights holder and licence unknown"


def _day(value: Any) -> str | None:
    """The calendar day of a date or timestamp: its first ten characters (``YYYY-MM-DD``)."""
    text = _text(value)
    return text[:10] if text else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _number(rec: dict, name: str | None) -> float | None:
    value = rec.get(name) if name else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """JSON-safe metadata values: NaN → None, dates and other objects → text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
