"""The score cache: every (reranker, prompt template, image, query) score, in one SQLite file.

Scores from a large model or a paid API are the most expensive thing this tool computes, so
each is stored the moment its chunk finishes, together with the raw answer-token probabilities
it came from. SQLite in WAL mode lets several runs (and ``inquire serve``) read while one writes;
the file is portable, and ``inquire cache export|import`` moves scores between machines.

Only real scores are stored: a failed request or an undecodable image leaves no row, so it is
retried on the next run instead of being silently scored 0.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import InquireError
from ..paths import cache_root

ENV_VAR = "INQUIRE_SCORE_CACHE"
EXPORT_COLUMNS = ["scorer", "template", "image_key", "query", "score", "answer", "created"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scorers (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    scorer INTEGER NOT NULL REFERENCES scorers(id),
    image_key TEXT NOT NULL,
    query TEXT NOT NULL,
    score REAL NOT NULL,
    answer TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (scorer, image_key, query)
) WITHOUT ROWID;
"""


def default_path() -> Path:
    """``$INQUIRE_SCORE_CACHE`` if set, else ``scores.sqlite`` in the user's inquire cache."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else cache_root() / "scores.sqlite"


class ScoreCache:
    """Scores keyed by (scorer identity, image key, query); a scorer's identity includes its prompt template."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InquireError(
                f"Cannot open the score cache {self.path} ({exc}). Point --score-cache (or ${ENV_VAR}) "
                "to another file, or delete this one to start afresh."
            ) from None
        self._lock = threading.Lock()
        self._scorer_ids: dict[str, int] = {}

    @classmethod
    def open(cls, path: str | Path | None = None) -> ScoreCache:
        """The cache at ``path``, else at :func:`default_path`."""
        return cls(default_path() if path is None else path)

    @classmethod
    def memory(cls) -> ScoreCache:
        """A cache that lives as long as the process (for scorers created without one)."""
        return cls(":memory:")

    def _scorer_id(self, identity: str, template: str = "", create: bool = False) -> int | None:
        """The integer id of a scorer identity (identities already include their template)."""
        if identity in self._scorer_ids:
            return self._scorer_ids[identity]
        row = self._db.execute("SELECT id FROM scorers WHERE identity=?", (identity,)).fetchone()
        if row is None:
            if not create:
                return None
            cur = self._db.execute("INSERT INTO scorers (identity, template) VALUES (?, ?)", (identity, template))
            row = (cur.lastrowid,)
        self._scorer_ids[identity] = int(row[0])
        return int(row[0])

    def lookup(self, identity: str, keys: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of (image_key, query) pairs as float64; NaN where none is cached."""
        return self._fetch(identity, keys, with_answers=False)[0]

    def lookup_with_answers(
        self, identity: str, keys: Sequence[tuple[str, str]],
    ) -> tuple[np.ndarray, list[dict[str, float] | None]]:
        """Scores as :meth:`lookup`, and the answer probabilities stored with each (None where none)."""
        return self._fetch(identity, keys, with_answers=True)

    def _fetch(self, identity: str, keys: Sequence[tuple[str, str]], with_answers: bool):
        """Scores and (if asked) answers of ``keys``. The keys go into a temporary table joined on the
        primary key: one statement for any number of keys, each found by an index search."""
        out = np.full(len(keys), np.nan)
        answers: list[dict[str, float] | None] = [None] * len(keys)
        with self._lock:
            sid = self._scorer_id(identity)
            if sid is None or not keys:
                return out, answers
            wanted: dict[tuple[str, str], list[int]] = {}
            for i, key in enumerate(keys):
                wanted.setdefault(key, []).append(i)
            with self._db:  # commits at once: no read snapshot is held between lookups
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (image_key TEXT NOT NULL, query TEXT NOT NULL)")
                self._db.execute("DELETE FROM temp.wanted")
                self._db.executemany("INSERT INTO temp.wanted VALUES (?, ?)", wanted)
                rows = self._db.execute(
                    f"SELECT w.image_key, w.query, s.score, {'s.answer' if with_answers else 'NULL'} "
                    "FROM temp.wanted w JOIN scores s ON s.scorer = ? AND s.image_key = w.image_key AND s.query = w.query",
                    (sid,),
                ).fetchall()
            for image_key, query, score, answer in rows:
                parsed = None if answer is None else json.loads(answer)
                for i in wanted[(image_key, query)]:
                    out[i], answers[i] = score, parsed
        return out, answers

    def put(
        self, identity: str, template: str,
        rows: Iterable[tuple[str, str, float, dict[str, float] | None]],
    ) -> int:
        """Store (image_key, query, score, answer probabilities) rows; returns how many."""
        now = time.time()
        with self._lock, self._db:
            sid = self._scorer_id(identity, template, create=True)
            cur = self._db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                [(sid, str(k), q, float(s), None if a is None else json.dumps(a), now) for k, q, s, a in rows],
            )
            return cur.rowcount

    def stats(self) -> list[dict]:
        """Per scorer: identity, template, number of scores, oldest and newest time."""
        rows = self._db.execute(
            "SELECT s.identity, s.template, COUNT(*), MIN(c.created), MAX(c.created) "
            "FROM scorers s JOIN scores c ON c.scorer = s.id GROUP BY s.id ORDER BY s.identity"
        ).fetchall()
        return [dict(zip(["identity", "template", "n_scores", "first", "last"], r)) for r in rows]

    def export(self, path: str | Path) -> int:
        """Write every score to a parquet file (one row per score, columns ``EXPORT_COLUMNS``)."""
        import pandas as pd

        df = pd.read_sql_query(
            "SELECT s.identity AS scorer, s.template, c.image_key, c.query, c.score, c.answer, c.created "
            "FROM scores c JOIN scorers s ON c.scorer = s.id",
            self._db,
        )
        df.to_parquet(path, index=False)
        return len(df)

    def import_(self, path: str | Path) -> int:
        """Add the scores of an exported file; scores already present are kept. Returns how many were added."""
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise InquireError(f"Cannot read {path} as a score export ({exc}): use a file written by `inquire cache export`.") from None
        missing = [c for c in EXPORT_COLUMNS if c not in df.columns]
        if missing:
            raise InquireError(f"{path} lacks column(s) {', '.join(missing)}: use a file written by `inquire cache export`.")
        added = 0
        with self._lock, self._db:
            for (identity, template), group in df.groupby(["scorer", "template"], sort=False):
                sid = self._scorer_id(identity, template, create=True)
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                    [(sid, str(r.image_key), r.query, float(r.score), r.answer, float(r.created))
                     for r in group.itertuples(index=False)],
                )
                added += self._db.total_changes - before
        return added

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def close(self) -> None:
        self._db.close()
