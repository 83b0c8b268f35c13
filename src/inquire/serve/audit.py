"""The audit log of label changes: who changed which judgement, when, from what to what, and through what.

An entry is written in the same transaction as the change it records, so the log and the labels
never disagree: a change is either committed with its entry or not at all. Entries are only ever
added. ``before``/``after`` are 1 (relevant), 0 (not relevant) or empty (no judgement).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

import pandas as pd

from .database import LabelsDatabase

COLUMNS = ["at", "actor", "source", "action", "query_text", "image_id", "annotator", "before", "after"]


@dataclass(frozen=True)
class Change:
    """One recorded change of one person's judgement of one (query, image)."""

    at: float
    actor: str  # the account (or, for a command-line import, the system user) that made the change
    source: str  # "web", or "import:<file name>"
    action: str  # "set", "delete" or "import"
    query_text: str
    image_id: str
    annotator: str  # whose judgement changed
    before: bool | None
    after: bool | None


def record(conn: sqlite3.Connection, change: Change) -> None:
    """Add ``change`` to the log inside the caller's open transaction."""
    conn.execute(
        f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        (change.at, change.actor, change.source, change.action, change.query_text, change.image_id,
         change.annotator, _int(change.before), _int(change.after)),
    )


def changes(db: LabelsDatabase) -> list[Change]:
    """Every recorded change, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY id").fetchall()
    return [Change(*row[:7], _bool(row[7]), _bool(row[8])) for row in rows]


def audit_csv(log: list[Change]) -> str:
    """Changes as CSV, times in UTC ISO 8601, judgements as 1/0/empty."""
    rows = [
        {**change.__dict__, "at": dt.datetime.fromtimestamp(change.at, dt.UTC).isoformat(timespec="milliseconds"),
         "before": _int(change.before), "after": _int(change.after)}
        for change in log
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"before": "Int64", "after": "Int64"}).to_csv(index=False)


def _int(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)
