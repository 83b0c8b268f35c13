"""Relevance judgements of a team: each person's own, and the consensus that a benchmark is made of.

A judgement is keyed by (query text, image id, annotator): everyone who judges an image for a
query keeps their own judgement and may change or withdraw it; nobody overwrites anyone else's.
The **consensus** of an image for a query is the majority of its judgements (ties are marked:
no consensus, :func:`inquire.agreement.majority`); it is what the page shows on a card, what
Refine learns from, and what the benchmark export annotates. Every change is written together
with its audit entry in one committed transaction (:mod:`.database`, :mod:`.audit`) before the
caller returns, so an acknowledged label is on disk. Query texts are stored in their normalised
form (:func:`inquire.data.queries.normalize_text`), the form under which two texts are one query.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..agreement import majority
from ..data.queries import normalize_text
from ..errors import InquireError
from . import audit
from .database import LabelsDatabase

_LABEL_COLUMNS = "query_text, image_id, image_path, relevant, updated_at, annotator"
_INFO_COLUMNS = ("supercategory", "category", "iconic_group")


@dataclass(frozen=True)
class Label:
    """One person's judgement: is ``image_id`` relevant to ``query_text``."""

    query_text: str
    image_id: str
    image_path: str
    relevant: bool
    updated_at: float
    annotator: str


@dataclass(frozen=True)
class Consensus:
    """What the judgements of one (query, image) add up to, and who said what."""

    query_text: str
    image_id: str
    image_path: str
    relevant: bool | None  # the majority; None: a tie, no consensus
    relevant_by: tuple[str, ...]  # annotators who judged it relevant, by name
    not_relevant_by: tuple[str, ...]
    updated_at: float  # the latest judgement


@dataclass(frozen=True)
class QueryColumns:
    """A query with the benchmark columns the INQUIRE query lists carry."""

    query_id: int
    query_text: str
    supercategory: str
    category: str
    iconic_group: str


@dataclass(frozen=True)
class QueryInfo(QueryColumns):
    """A registered query and its judgements: ``n_relevant``/``n_not_relevant`` count images by their
    consensus, ``n_tied`` those without one; ``annotators`` are those who judged any of its images."""

    n_relevant: int
    n_not_relevant: int
    n_tied: int = 0
    annotators: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conflict:
    """An imported judgement that differs from the one a person already has in the database."""

    query_text: str
    image_id: str
    annotator: str
    kept: bool  # the judgement in the database after the merge
    stored: bool
    stored_at: float
    offered: bool
    offered_at: float


@dataclass
class Merge:
    """What merging judgements into the database did."""

    added: int = 0
    unchanged: int = 0
    replaced: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    queries_added: int = 0
    query_conflicts: list[str] = field(default_factory=list)  # "text: column stored 'a', offered 'b'"


class LabelStore:
    """Judgements of one collection, in the labels database ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0, create: bool = True):
        self.db = LabelsDatabase(path, timeout_s=timeout_s, create=create)
        self.path = self.db.path

    def set(self, query: str, image_id: str, image_path: str, relevant: bool, *, annotator: str) -> Label:
        """Record (or change) ``annotator``'s judgement, committed with its audit entry before returning."""
        text, image_id, relevant = _query_key(query), str(image_id), bool(relevant)
        now = time.time()
        with self.db.transaction() as conn:
            _register(conn, text)
            before = _judgement(conn, text, image_id, annotator)
            if before is not None and before[0] == relevant:
                return Label(text, image_id, image_path, relevant, before[1], annotator)
            conn.execute(
                f"INSERT INTO labels ({_LABEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (query_text, image_id, annotator) DO UPDATE SET "
                "relevant = excluded.relevant, image_path = excluded.image_path, updated_at = excluded.updated_at",
                (text, image_id, image_path, int(relevant), now, annotator),
            )
            audit.record(conn, audit.Change(now, annotator, "web", "set", text, image_id, annotator,
                                            before[0] if before else None, relevant))
        return Label(text, image_id, image_path, relevant, now, annotator)

    def delete(self, query: str, image_id: str, *, annotator: str) -> bool:
        """Withdraw ``annotator``'s judgement; True if there was one."""
        text, image_id = _query_key(query), str(image_id)
        with self.db.transaction() as conn:
            before = _judgement(conn, text, image_id, annotator)
            if before is None:
                return False
            conn.execute("DELETE FROM labels WHERE query_text = ? AND image_id = ? AND annotator = ?", (text, image_id, annotator))
            audit.record(conn, audit.Change(time.time(), annotator, "web", "delete", text, image_id, annotator, before[0], None))
        return True

    def labels(self, query: str | None = None, annotator: str | None = None) -> list[Label]:
        """Judgements of one query (or all), of one annotator (or all), oldest first."""
        with self._read() as conn:
            return _select_labels(conn, None if query is None else _query_key(query), annotator)

    def judgements(self, query: str, image_ids: Sequence[str]) -> dict[str, dict[str, bool]]:
        """Who judged which of ``image_ids`` for ``query``: image id → {annotator: relevant}."""
        ids = list(dict.fromkeys(map(str, image_ids)))
        out: dict[str, dict[str, bool]] = {}
        if not ids:
            return out
        with self.db.connect() as conn:
            rows = conn.execute(
                f"SELECT image_id, annotator, relevant FROM labels WHERE query_text = ? AND image_id IN ({', '.join('?' * len(ids))}) "
                "ORDER BY annotator", [_query_key(query), *ids],
            ).fetchall()
        for image_id, annotator, relevant in rows:
            out.setdefault(image_id, {})[annotator] = bool(relevant)
        return out

    def lookup(self, query: str, image_ids: Sequence[str]) -> dict[str, bool]:
        """The consensus of ``query`` among ``image_ids``: what a card shows. Unjudged and tied ids are absent."""
        out = {}
        for image_id, votes in self.judgements(query, image_ids).items():
            decided = consensus_of(votes.values())
            if decided is not None:
                out[image_id] = decided
        return out

    def consensus(self, query: str | None = None) -> list[Consensus]:
        """Per judged (query, image), in the order first judged: the consensus and who judged it which way."""
        return consensus_by_image(self.labels(query))

    def set_query_info(self, query: str, *, supercategory: str = "", category: str = "", iconic_group: str = "") -> QueryInfo:
        """Set the benchmark columns of a query (registering it if it has no labels yet)."""
        text = _query_key(query)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO queries (query_text, supercategory, category, iconic_group) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (query_text) DO UPDATE SET supercategory = excluded.supercategory, "
                "category = excluded.category, iconic_group = excluded.iconic_group",
                (text, supercategory.strip(), category.strip(), iconic_group.strip()),
            )
        return next(q for q in self.queries() if q.query_text == text)

    def queries(self) -> list[QueryInfo]:
        """Every registered query, in the order it was first labelled (its query_id order)."""
        with self._read() as conn:
            return _select_queries(conn)

    def snapshot(self, query: str | None = None) -> tuple[list[QueryInfo], list[Label]]:
        """Every query and every judgement (or one query's) as of one moment (one read transaction):
        a backup, or an export whose files must agree while others keep labelling."""
        with self._read() as conn:
            conn.execute("BEGIN")
            try:
                return _select_queries(conn), _select_labels(conn, None if query is None else _query_key(query), None)
            finally:
                conn.execute("COMMIT")

    def merge(self, queries: Iterable[QueryColumns], labels: Iterable[Label], *, newer_wins: bool, actor: str, source: str) -> Merge:
        """Add judgements (and query columns) from elsewhere in one transaction, never silently replacing one.

        A judgement a person already has with another value is a conflict: kept as stored, or with
        ``newer_wins`` replaced when the offered one is later; either way it is listed. A query's
        column already set to another value is kept and listed. A new query keeps its query_id
        where that id is free, so importing into an empty database reproduces the ids.
        """
        result = Merge()
        now = time.time()
        with self.db.transaction() as conn:
            for info in sorted(queries, key=lambda q: q.query_id):
                self._merge_query(conn, info, result)
            for lab in labels:
                result.queries_added += _register(conn, lab.query_text)
                stored = _judgement(conn, lab.query_text, lab.image_id, lab.annotator)
                if stored is not None and stored[0] == lab.relevant:
                    result.unchanged += 1
                    continue
                if stored is not None:
                    replace = newer_wins and lab.updated_at > stored[1]
                    result.conflicts.append(Conflict(lab.query_text, lab.image_id, lab.annotator, lab.relevant if replace else stored[0],
                                                     stored[0], stored[1], lab.relevant, lab.updated_at))
                    if not replace:
                        continue
                    result.replaced += 1
                else:
                    result.added += 1
                conn.execute(
                    f"INSERT OR REPLACE INTO labels ({_LABEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (lab.query_text, lab.image_id, lab.image_path, int(lab.relevant), lab.updated_at, lab.annotator),
                )
                audit.record(conn, audit.Change(now, actor, source, "import", lab.query_text, lab.image_id, lab.annotator,
                                                stored[0] if stored else None, lab.relevant))
        return result

    @staticmethod
    def _merge_query(conn: sqlite3.Connection, info: QueryColumns, result: Merge) -> None:
        row = conn.execute(f"SELECT {', '.join(_INFO_COLUMNS)} FROM queries WHERE query_text = ?", (info.query_text,)).fetchone()
        offered = [getattr(info, c) for c in _INFO_COLUMNS]
        if row is None:
            free = conn.execute("SELECT 1 FROM queries WHERE query_id = ?", (info.query_id,)).fetchone() is None
            conn.execute(
                f"INSERT INTO queries (query_id, query_text, {', '.join(_INFO_COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                (info.query_id if free else None, info.query_text, *offered),
            )
            result.queries_added += 1
            return
        for column, stored, new in zip(_INFO_COLUMNS, row, offered):
            if new and not stored:
                conn.execute(f"UPDATE queries SET {column} = ? WHERE query_text = ?", (new, info.query_text))
            elif new and new != stored:
                result.query_conflicts.append(f"{info.query_text}: {column} stored {stored!r}, offered {new!r}")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self.db.connect() as conn:
            _consensus_function(conn)
            yield conn


def consensus_by_image(judged: Iterable[Label]) -> list[Consensus]:
    """Judgements grouped per (query, image), in the order first met: the consensus and who judged it which way."""
    grouped: dict[tuple[str, str], list[Label]] = {}
    for lab in judged:
        grouped.setdefault((lab.query_text, lab.image_id), []).append(lab)
    out = []
    for (text, image_id), labs in grouped.items():
        yes = tuple(sorted(lab.annotator for lab in labs if lab.relevant))
        no = tuple(sorted(lab.annotator for lab in labs if not lab.relevant))
        latest = max(labs, key=lambda lab: lab.updated_at)
        out.append(Consensus(text, image_id, latest.image_path, majority(len(yes), len(no)), yes, no, latest.updated_at))
    return out


def consensus_of(votes: Iterable[bool]) -> bool | None:
    """The consensus of some judgements of one image (the majority; None for a tie)."""
    votes = list(votes)
    return majority(sum(votes), len(votes) - sum(votes))


def _consensus_function(conn: sqlite3.Connection) -> None:
    """``majority(n_yes, n_no)`` in SQL: the one rule of :mod:`inquire.agreement`, not a second copy."""
    conn.create_function("majority", 2, lambda yes, no: _sql_bool(majority(yes, no)), deterministic=True)


def _sql_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _select_labels(conn: sqlite3.Connection, text: str | None, annotator: str | None) -> list[Label]:
    where, args = [], []
    if text is not None:
        where.append("query_text = ?")
        args.append(text)
    if annotator is not None:
        where.append("annotator = ?")
        args.append(annotator)
    sql = f"SELECT {_LABEL_COLUMNS} FROM labels" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY updated_at, rowid", args).fetchall()
    return [Label(q, i, p, bool(r), t, a) for q, i, p, r, t, a in rows]


def _select_queries(conn: sqlite3.Connection) -> list[QueryInfo]:
    """Queries with their consensus counts (``majority`` in SQL) and annotators."""
    rows = conn.execute(
        "WITH images AS (SELECT query_text, majority(SUM(relevant), COUNT(*) - SUM(relevant)) AS decided "
        "                FROM labels GROUP BY query_text, image_id), "  # the primary key's order: no sort
        "     counts AS (SELECT query_text, SUM(decided = 1) AS yes, SUM(decided = 0) AS no, SUM(decided IS NULL) AS tied "
        "                FROM images GROUP BY query_text) "
        "SELECT q.query_id, q.query_text, q.supercategory, q.category, q.iconic_group, "
        "COALESCE(c.yes, 0), COALESCE(c.no, 0), COALESCE(c.tied, 0) "
        "FROM queries q LEFT JOIN counts c ON c.query_text = q.query_text ORDER BY q.query_id"
    ).fetchall()
    annotators: dict[str, list[str]] = {}
    for text, name in conn.execute("SELECT DISTINCT query_text, annotator FROM labels ORDER BY annotator"):
        annotators.setdefault(text, []).append(name)
    return [QueryInfo(*row, annotators=tuple(annotators.get(row[1], ()))) for row in rows]


def _register(conn: sqlite3.Connection, text: str) -> int:
    """Register a query text if new; 1 if it was."""
    return conn.execute("INSERT INTO queries (query_text) VALUES (?) ON CONFLICT (query_text) DO NOTHING", (text,)).rowcount


def _judgement(conn: sqlite3.Connection, text: str, image_id: str, annotator: str) -> tuple[bool, float] | None:
    row = conn.execute(
        "SELECT relevant, updated_at FROM labels WHERE query_text = ? AND image_id = ? AND annotator = ?", (text, image_id, annotator)
    ).fetchone()
    return None if row is None else (bool(row[0]), row[1])


def _query_key(query: str) -> str:
    text = normalize_text(query)
    if not text:
        raise InquireError("A label needs a non-empty query text.")
    return text
