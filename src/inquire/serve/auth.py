"""Who a request comes from, and whether it may do what it asks.

Every request passes :class:`AuthMiddleware` before any route, so a route added later is
guarded without anyone remembering to: unless it is one of :data:`PUBLIC` (the sign-in page and
its stylesheets) it needs an identity, else 401. What each route may do is then its role,
declared once per router or route with :class:`Need` (``viewer`` < ``labeler`` < ``admin``), else 403.

* **Single-user mode**: a server that is not public (bound to loopback, no ``--allow-host``)
  over a labels database that never had an account needs no sign-in; every request is the
  single-user annotator with every right, as before accounts existed. A request forwarded by a
  proxy is refused there, since the proxy would open that mode to others.
* **Accounts**: ``Authorization: Bearer TOKEN``, or the browser's session cookie from the
  sign-in page (HttpOnly, SameSite=Strict, Secure over HTTPS).
* **CSRF**: a request that changes something (any method but GET/HEAD/OPTIONS) is refused if
  its ``Origin`` names another site, and, when it rides on the session cookie, unless it carries
  the session's token in ``X-CSRF-Token`` (the page's script adds it; another site cannot read
  it). Bearer tokens are never sent by a browser on its own, so they need no CSRF token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .accounts import AccountStore, role_rank
from .database import SINGLE_USER

SIGNIN_PATH = "/signin"
SESSION_COOKIE = "inquire_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: (method, path) answered without an identity: the sign-in page, its form, its stylesheets.
PUBLIC = frozenset({("GET", SIGNIN_PATH), ("POST", SIGNIN_PATH), ("GET", "/static/app.css"), ("GET", "/static/team.css")})
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")
_SIGN_IN = f"sign in at {SIGNIN_PATH} or send `Authorization: Bearer TOKEN` (an admin makes one with `inquire users add NAME`)"


@dataclass(frozen=True)
class Identity:
    """The person behind a request and how they proved it."""

    name: str
    role: str
    via: str  # "single-user", "bearer" or "session"
    csrf: str | None = None  # the session's CSRF token (sessions only)
    session_id: str | None = None


class Refused(Exception):
    """Credentials that were sent but do not hold (status and message for the client)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Gate:
    """Turns a request's credentials into an :class:`Identity` (``public``: reachable by others)."""

    def __init__(self, accounts: AccountStore, public: bool):
        self.accounts = accounts
        self.public = public
        self._accounts_seen = False
        self._checked = float("-inf")

    def single_user(self) -> bool:
        """Not public and no account ever made; rechecked at most once a second, so that the first
        ``inquire users add`` closes a running server's single-user mode within a second."""
        if self.public or self._accounts_seen:
            return False
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._accounts_seen, self._checked = self.accounts.exist(), now
        return not self._accounts_seen

    def identify(self, authorization: str | None, session_id: str | None, proxied: bool) -> Identity | None:
        """The identity of a request, None if it sent no credentials; :class:`Refused` if they do not hold."""
        if self.single_user():
            if proxied:
                raise Refused(403, "This server runs in single-user mode (loopback, no accounts), so it refuses requests "
                                   "forwarded by a proxy: make an account (`inquire users add NAME --role admin`) and "
                                   "serve with --allow-host PUBLIC_NAME (docs/team.md).")
            return Identity(SINGLE_USER, "admin", "single-user")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Refused(401, f"The Authorization header must be `Bearer TOKEN`; {_SIGN_IN}.")
            account = self.accounts.by_token(token.strip())
            if account is None:
                raise Refused(401, f"This token is not valid; {_SIGN_IN}.")
            if not account.active:
                raise Refused(401, f"The token of {account.name} was revoked; ask an admin for a new one (`inquire users add {account.name}`).")
            return Identity(account.name, account.role, "bearer")
        if session_id:
            session = self.accounts.session(session_id)
            if session is None:
                raise Refused(401, f"Your session has ended (signed out, expired or revoked): sign in again at {SIGNIN_PATH}.")
            return Identity(session.account.name, session.account.role, "session", session.csrf, session_id)
        return None


class AuthMiddleware:
    """ASGI middleware: identify every request, refuse the unidentified and cross-site changes.

    The identity (or None on a public path) is left in ``request.state.identity`` for :class:`Need`.
    """

    def __init__(self, app: ASGIApp, gate: Gate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route takes one: refused here, so a later one cannot slip past this gate
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        method, path = request.method, scope["path"]
        public = (method, path) in PUBLIC
        changes = method not in SAFE_METHODS
        if changes and not same_origin(request.headers):
            await _json(403, "Cross-origin request refused: this server accepts changes only from its own pages. "
                             "Behind a reverse proxy, pass the Host header on (nginx: proxy_set_header Host $host).")(scope, receive, send)
            return
        try:
            who = await run_in_threadpool(
                self.gate.identify, request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE),
                any(h in request.headers for h in _PROXY_HEADERS),
            )
        except Refused as exc:
            if not public:
                await _deny(request, exc.status, str(exc))(scope, receive, send)
                return
            who = None
        if who is None and not public:
            await _deny(request, 401, f"This server needs an account: {_SIGN_IN}.")(scope, receive, send)
            return
        if who is not None and who.via == "session" and changes and path != SIGNIN_PATH:
            if not secrets.compare_digest(request.headers.get(CSRF_HEADER, "").encode("latin-1"), (who.csrf or "").encode()):
                await _json(403, "Missing or wrong X-CSRF-Token header: changes made with the sign-in cookie must carry the "
                                 "page's CSRF token (reload the page); scripts should use a Bearer token instead.")(scope, receive, send)
                return
        scope.setdefault("state", {})["identity"] = who
        await self.app(scope, receive, send)


_BEARER = HTTPBearer(auto_error=False, description="A token from `inquire users add NAME --role ROLE`.")


class Need:
    """A route dependency: the request's identity, if its role is at least ``role`` (else 403)."""

    def __init__(self, role: str):
        role_rank(role)  # a known role
        self.role = role

    def __call__(self, request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]) -> Identity:
        who: Identity | None = getattr(request.state, "identity", None)
        if who is None:
            raise HTTPException(401, f"This server needs an account: {_SIGN_IN}.")
        if role_rank(who.role) < role_rank(self.role):
            raise HTTPException(403, f"{who.name} is a {who.role}; this needs the {self.role} role (an admin gives it with "
                                     f"`inquire users revoke {who.name}` and `inquire users add {who.name} --role {self.role}`).")
        return who


VIEWER, LABELER, ADMIN = Need("viewer"), Need("labeler"), Need("admin")
#: Route parameters: the identity, after its role was checked.
Viewer = Annotated[Identity, Depends(VIEWER)]
Labeler = Annotated[Identity, Depends(LABELER)]
Admin = Annotated[Identity, Depends(ADMIN)]


def same_origin(headers: Headers) -> bool:
    """False if the request's ``Origin`` names another site than its ``Host`` (no Origin: not a cross-site browser request)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https"):
        return False  # "null": a sandboxed frame, a file, a redirect across sites
    return _without_default_port(parts.netloc, parts.scheme) == _without_default_port(headers.get("host", ""), parts.scheme)


def _without_default_port(netloc: str, scheme: str) -> str:
    return netloc.lower().removesuffix({"http": ":80", "https": ":443"}[scheme])


def _deny(request: Request, status: int, message: str) -> Response:
    """401/403 as JSON, or, for a 401 on a page a browser navigates to, a page that leads to the sign-in form."""
    if status == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
        url = f"{SIGNIN_PATH}?next={target}"
        body = (f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={url}">'
                f'<title>Sign in</title><p><a href="{url}">Sign in</a> to use this server.</p>')
        return HTMLResponse(body, status_code=status, headers=_NO_STORE)
    return _json(status, message, {"WWW-Authenticate": 'Bearer realm="inquire"'} if status == 401 else {})


_NO_STORE = {"Cache-Control": "no-store"}


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers={**_NO_STORE, **(headers or {})})
