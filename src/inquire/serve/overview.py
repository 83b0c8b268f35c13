"""Where and when a result lies: the points of the page's map and the counts of its timeline.

Computed on the server from the metadata's numpy columns (coordinates, month and hour bytes),
for up to a thousand results and the query's labelled-relevant images: a few gathers and two
``bincount`` per set, well under a millisecond, where sending the rows' metadata to the page would
cost far more. Rows without coordinates, month or hour are counted, never dropped unsaid.
"""

from __future__ import annotations

import numpy as np

from .clock import NO_HOUR, NO_MONTH
from .metadata import Metadata


def spread(meta: Metadata, rows: np.ndarray) -> dict:
    """How many of ``rows`` have a place, captures per month (12 counts, January first) and per hour (24)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = {"n": len(rows), "n_placed": int(np.count_nonzero(_placed(meta, rows))),
           "months": [0] * 12, "hours": [0] * 24, "n_without_month": len(rows), "n_without_hour": len(rows)}
    if meta.month is not None:
        month = meta.month[rows]
        out["months"] = np.bincount(month[month != NO_MONTH], minlength=13)[1:13].tolist()
        out["n_without_month"] = int(np.count_nonzero(month == NO_MONTH))
    if meta.hour is not None:
        hour = meta.hour[rows]
        out["hours"] = np.bincount(hour[hour != NO_HOUR], minlength=24)[:24].tolist()
        out["n_without_hour"] = int(np.count_nonzero(hour == NO_HOUR))
    return out


def points(meta: Metadata, results: np.ndarray, relevant: np.ndarray) -> list[dict]:
    """Map points: each placed result (``rank`` from 1) then each placed relevant image outside the
    results (``rank`` None); ``relevant`` marks the query's labelled-relevant images."""
    results, relevant = np.asarray(results, dtype=np.int64), np.asarray(relevant, dtype=np.int64)
    extra = relevant[~np.isin(relevant, results)]
    rows = np.concatenate([results, extra])
    ranks = np.concatenate([np.arange(1, len(results) + 1), np.zeros(len(extra), dtype=np.int64)])
    keep = _placed(meta, rows)
    rows, ranks = rows[keep], ranks[keep]
    lat = np.round(meta.latitude[rows].astype(np.float64), 5).tolist() if len(rows) else []
    lon = np.round(meta.longitude[rows].astype(np.float64), 5).tolist() if len(rows) else []
    flags = np.isin(rows, relevant).tolist()
    return [{"row": r, "lat": a, "lon": o, "rank": k or None, "relevant": v}
            for r, a, o, k, v in zip(rows.tolist(), lat, lon, ranks.tolist(), flags)]


def _placed(meta: Metadata, rows: np.ndarray) -> np.ndarray:
    if meta.latitude is None or meta.longitude is None:
        return np.zeros(len(rows), dtype=bool)
    return np.isfinite(meta.latitude[rows]) & np.isfinite(meta.longitude[rows])
