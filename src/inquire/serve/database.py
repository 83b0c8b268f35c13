"""The labels database: one SQLite file per collection, its schema version and the migrations to it.

It holds the team's judgements, the queries they belong to, the accounts (token hashes only),
sign-in sessions and the audit log. Labels are expert work, so:

* **durability**: WAL journal with ``synchronous=FULL``. A write is acknowledged only after its
  transaction committed, and with FULL each commit waits for the WAL file to reach the disk
  (fsync): a committed label survives the server being killed (SIGKILL) and also an operating
  system crash or power loss, as far as the disk honours flush requests. (WAL with NORMAL, the
  usual speed setting, would survive a killed process but may lose the last commits on power
  loss.) A label write is one small transaction, so the cost, one fsync per click, is never felt.
* **concurrency**: readers never block the writer (WAL); writers queue on the lock with a busy
  timeout (``BEGIN IMMEDIATE``) instead of failing; each call opens its own connection, so
  threads and processes can share the file.
* **versions**: ``PRAGMA user_version`` is the schema version. Opening a file runs the migrations
  from its version to :data:`SCHEMA_VERSION` in one transaction (all or nothing); a file written
  before versions existed (version 0, labels without annotators) keeps every label, attributed to
  :data:`SINGLE_USER`. A file from a newer inquire is refused rather than misread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import InquireError

SCHEMA_VERSION = 1
#: The annotator of single-user mode (a loopback server without accounts). Labels written before
#: annotators were recorded were made in that mode, so a migration attributes them to it too.
SINGLE_USER = "local"

_V1 = (
    """CREATE TABLE IF NOT EXISTS queries (
        query_id      INTEGER PRIMARY KEY AUTOINCREMENT,
        query_text    TEXT NOT NULL UNIQUE,
        supercategory TEXT NOT NULL DEFAULT '',
        category      TEXT NOT NULL DEFAULT '',
        iconic_group  TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE labels (
        query_text TEXT NOT NULL,
        image_id   TEXT NOT NULL,
        annotator  TEXT NOT NULL,
        image_path TEXT NOT NULL,
        relevant   INTEGER NOT NULL CHECK (relevant IN (0, 1)),
        updated_at REAL NOT NULL,
        PRIMARY KEY (query_text, image_id, annotator)
    )""",
    # the consensus of every image (query list, exports) reads only this index, not the rows
    "CREATE INDEX labels_votes ON labels (query_text, image_id, relevant)",
    """CREATE TABLE accounts (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'labeler', 'admin')),
        token_hash TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
    """CREATE TABLE sessions (
        id_hash    TEXT PRIMARY KEY,
        account    TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX sessions_account ON sessions (account)",
    """CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         REAL NOT NULL,
        actor      TEXT NOT NULL,
        source     TEXT NOT NULL,
        action     TEXT NOT NULL,
        query_text TEXT NOT NULL,
        image_id   TEXT NOT NULL,
        annotator  TEXT NOT NULL,
        before     INTEGER,
        after      INTEGER
    )""",
)


def _to_v1(conn: sqlite3.Connection) -> None:
    """Annotators, accounts, sessions and the audit log; a version-0 file's labels become SINGLE_USER's."""
    legacy = "labels" in _tables(conn)
    if legacy:
        conn.execute("ALTER TABLE labels RENAME TO labels_v0")
    for statement in _V1:
        conn.execute(statement)
    if legacy:
        conn.execute(
            "INSERT INTO labels (query_text, image_id, annotator, image_path, relevant, updated_at) "
            "SELECT query_text, image_id, ?, image_path, relevant, updated_at FROM labels_v0",
            (SINGLE_USER,),
        )
        conn.execute("DROP TABLE labels_v0")


#: MIGRATIONS[v] brings a file from version v to v + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_to_v1,)


class LabelsDatabase:
    """The SQLite file ``path``: created (``create``) or required to exist, migrated on opening."""

    #: See the module's docstring (benchmarks/bench_team.py measures it against NORMAL).
    SYNCHRONOUS = "FULL"

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0, create: bool = True):
        self.path = Path(path)
        self.timeout_s = timeout_s
        if not create and not self.path.is_file():
            raise InquireError(f"No labels database at {self.path}: give the file `inquire serve` uses (--labels FILE, or --embeddings DIR for its default).")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
            # Kept open, unused, for the object's life: SQLite checkpoints the WAL into the database and
            # deletes it whenever the last connection closes, which would make every call (a connection
            # of its own) pay a checkpoint, about 20 ms, instead of one append and fsync of the WAL.
            self._anchor = sqlite3.connect(self.path, timeout=self.timeout_s, check_same_thread=False)
            self._anchor.execute("PRAGMA user_version").fetchone()  # a connection joins the WAL on its first read
        except (OSError, sqlite3.DatabaseError) as exc:
            raise InquireError(f"Cannot open the labels database {self.path} ({exc}); give a writable SQLite file with --labels.") from None

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode with the durability settings above."""
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.execute(f"PRAGMA synchronous={self.SYNCHRONOUS}")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._version(conn) == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")  # a second process opening the file waits, then finds it migrated
        try:
            version = self._version(conn)
            for step in MIGRATIONS[version:]:
                step(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _version(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise InquireError(
                f"The labels database {self.path} has schema version {version}, written by a newer inquire "
                f"(this one reads up to {SCHEMA_VERSION}): upgrade inquire-toolkit to open it."
            )
        return version


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
