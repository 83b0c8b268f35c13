"""Relevance labels in an embedded SQLite database.

Labels are a team's expert work, so they must survive restarts, crashes and several people
labelling at once. Each write is one statement in its own transaction (an upsert keyed by
(query text, image id)), the database runs in WAL mode so readers never block the writer, and
every call opens its own connection with a busy timeout, so concurrent writers queue instead of
failing or overwriting each other's rows. Query texts are stored in their normalised form
(:func:`inquire.data.queries.normalize_text`), the form under which two texts are one query.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.queries import normalize_text
from ..errors import InquireError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    query_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    query_text    TEXT NOT NULL UNIQUE,
    supercategory TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    iconic_group  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS labels (
    query_text TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    image_path TEXT NOT NULL,
    relevant   INTEGER NOT NULL CHECK (relevant IN (0, 1)),
    updated_at REAL NOT NULL,
    PRIMARY KEY (query_text, image_id)
);
"""


@dataclass(frozen=True)
class Label:
    """One judgement: is ``image_id`` relevant to ``query_text``."""

    query_text: str
    image_id: str
    image_path: str
    relevant: bool
    updated_at: float


@dataclass(frozen=True)
class QueryInfo:
    """A labelled query with the benchmark columns the INQUIRE query lists carry."""

    query_id: int
    query_text: str
    supercategory: str
    category: str
    iconic_group: str
    n_relevant: int
    n_not_relevant: int


class LabelStore:
    """Labels of one collection, in the SQLite file ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise InquireError(f"Cannot open the labels database {self.path} ({exc}); give a writable file with --labels.") from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each checkpoint, never corrupt
            yield conn
        finally:
            conn.close()

    def set(self, query: str, image_id: str, image_path: str, relevant: bool) -> Label:
        """Record (or overwrite) one judgement atomically, registering the query if new."""
        text = _query_key(query)
        now = time.time()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO queries (query_text) VALUES (?) ON CONFLICT (query_text) DO NOTHING", (text,))
                conn.execute(
                    "INSERT INTO labels (query_text, image_id, image_path, relevant, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (query_text, image_id) DO UPDATE SET "
                    "relevant = excluded.relevant, image_path = excluded.image_path, updated_at = excluded.updated_at",
                    (text, str(image_id), image_path, int(bool(relevant)), now),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return Label(text, str(image_id), image_path, bool(relevant), now)

    def delete(self, query: str, image_id: str) -> bool:
        """Forget one judgement; True if there was one."""
        with self._connect() as conn:
            cur = conn.execute("DELETE FROM labels WHERE query_text = ? AND image_id = ?", (_query_key(query), str(image_id)))
            return cur.rowcount > 0

    def labels(self, query: str | None = None) -> list[Label]:
        """Judgements of one query (or of all queries), oldest first."""
        sql = "SELECT query_text, image_id, image_path, relevant, updated_at FROM labels"
        args: tuple = ()
        if query is not None:
            sql += " WHERE query_text = ?"
            args = (_query_key(query),)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY updated_at, rowid", args).fetchall()
        return [Label(q, i, p, bool(r), t) for q, i, p, r, t in rows]

    def lookup(self, query: str, image_ids: Sequence[str]) -> dict[str, bool]:
        """The judgements of ``query`` among ``image_ids`` (absent ids are unlabelled)."""
        wanted = set(map(str, image_ids))
        return {lab.image_id: lab.relevant for lab in self.labels(query) if lab.image_id in wanted}

    def set_query_info(self, query: str, *, supercategory: str = "", category: str = "", iconic_group: str = "") -> QueryInfo:
        """Set the benchmark columns of a query (registering it if it has no labels yet)."""
        text = _query_key(query)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO queries (query_text, supercategory, category, iconic_group) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (query_text) DO UPDATE SET supercategory = excluded.supercategory, "
                "category = excluded.category, iconic_group = excluded.iconic_group",
                (text, supercategory.strip(), category.strip(), iconic_group.strip()),
            )
        return next(q for q in self.queries() if q.query_text == text)

    def queries(self) -> list[QueryInfo]:
        """Every registered query, in the order it was first labelled (its query_id order)."""
        sql = (
            "SELECT q.query_id, q.query_text, q.supercategory, q.category, q.iconic_group, "
            "COALESCE(SUM(l.relevant = 1), 0), COALESCE(SUM(l.relevant = 0), 0) "
            "FROM queries q LEFT JOIN labels l ON l.query_text = q.query_text "
            "GROUP BY q.query_id ORDER BY q.query_id"
        )
        with self._connect() as conn:
            return [QueryInfo(*row) for row in conn.execute(sql).fetchall()]


def _query_key(query: str) -> str:
    text = normalize_text(query)
    if not text:
        raise InquireError("A label needs a non-empty query text.")
    return text
