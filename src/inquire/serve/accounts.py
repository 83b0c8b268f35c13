"""Accounts, their tokens and sign-in sessions, kept in the labels database.

A token is 256 random bits (``secrets.token_urlsafe(32)``, prefixed ``inq_`` so secret scanners
can spot one), shown once by ``inquire users add`` and stored only as its SHA-256 digest. A plain
digest is enough for secrets of this strength: nobody can guess a 256-bit value from its hash, so
the slow, salted hashes made for human passwords (bcrypt, Argon2) would add ~100 ms to every
request and no safety. Lookups go by digest, so no stored value is ever compared with a secret.
Sign-in sessions are stored the same way (the cookie's value only as a digest) with their CSRF
token and expiry; revoking an account ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InquireError
from .database import SINGLE_USER, LabelsDatabase

#: Roles in increasing order of what they may do: look, label, export.
ROLES = ("viewer", "labeler", "admin")
TOKEN_PREFIX = "inq_"
SESSION_SECONDS = 12 * 3600
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    created_at: float
    revoked_at: float | None
    n_labels: int = 0

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its account and the CSRF token its page sends back on every change."""

    account: Account
    csrf: str
    expires_at: float


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def role_rank(role: str) -> int:
    return ROLES.index(role)


def check_name(name: str) -> str:
    """``name`` if it can name an annotator (letters, digits, ``. _ @ -``; up to 64), else a clear error."""
    if not _NAME.fullmatch(name):
        raise InquireError(f"Account name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.")
    return name


class AccountStore:
    """The accounts of one labels database."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.db = LabelsDatabase(path, create=create)
        self.path = self.db.path

    def add(self, name: str, role: str) -> str:
        """Make an account (or give a revoked one a new role and token); returns its token, which is stored only hashed."""
        check_name(name)
        if name == SINGLE_USER:
            raise InquireError(f"{SINGLE_USER!r} is the annotator of single-user mode (and of labels made before accounts); choose another name.")
        if role not in ROLES:
            raise InquireError(f"Role {role!r}: use one of {', '.join(ROLES)}.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT revoked_at FROM accounts WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] is None:
                raise InquireError(f"{name} already has an active account; `inquire users revoke {name}` first to give a new token or role.")
            conn.execute(
                "INSERT INTO accounts (name, role, token_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL) "
                "ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_hash = excluded.token_hash, "
                "created_at = excluded.created_at, revoked_at = NULL",
                (name, role, digest(token), time.time()),
            )
        return token

    def revoke(self, name: str) -> Account:
        """Revoke an account: its token and sessions stop working at once; its labels stay."""
        with self.db.transaction() as conn:
            found = conn.execute("UPDATE accounts SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)).rowcount
            conn.execute("DELETE FROM sessions WHERE account = ?", (name,))
        if not found:
            known = {a.name: a for a in self.accounts()}
            if name in known:
                raise InquireError(f"{name}'s account is already revoked.")
            raise InquireError(f"No account {name!r}; `inquire users list` shows them.")
        return next(a for a in self.accounts() if a.name == name)

    def accounts(self) -> list[Account]:
        """Every account ever made (revoked ones too), with the number of judgements each has."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT a.name, a.role, a.created_at, a.revoked_at, "
                "(SELECT COUNT(*) FROM labels l WHERE l.annotator = a.name) FROM accounts a ORDER BY a.created_at"
            ).fetchall()
        return [Account(*row) for row in rows]

    def exist(self) -> bool:
        """Whether any account was ever made here: such a database never again serves without sign-in."""
        with self.db.connect() as conn:
            return conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None

    def by_token(self, token: str) -> Account | None:
        """The account a token belongs to (revoked ones too, so the caller can say so), or None."""
        with self.db.connect() as conn:
            row = conn.execute("SELECT name, role, created_at, revoked_at FROM accounts WHERE token_hash = ?", (digest(token),)).fetchone()
        return None if row is None else Account(*row)

    def start_session(self, account: Account) -> tuple[str, Session]:
        """A new session for an active account: (the cookie value, the session)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            conn.execute("INSERT INTO sessions (id_hash, account, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                         (digest(session_id), account.name, csrf, now, now + SESSION_SECONDS))
        return session_id, Session(account, csrf, now + SESSION_SECONDS)

    def session(self, session_id: str) -> Session | None:
        """The live session of a cookie value: not expired, its account not revoked; else None."""
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT a.name, a.role, a.created_at, a.revoked_at, s.csrf, s.expires_at FROM sessions s "
                "JOIN accounts a ON a.name = s.account WHERE s.id_hash = ? AND s.expires_at > ? AND a.revoked_at IS NULL",
                (digest(session_id), time.time()),
            ).fetchone()
        return None if row is None else Session(Account(*row[:4]), row[4], row[5])

    def end_session(self, session_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(session_id),))
