"""Request guards that sit in front of every route: Host check, body size limit, security headers.

* A server bound to loopback accepts only loopback Host names, so a web page elsewhere cannot
  reach it through DNS rebinding and write labels in the user's name.
* Request bodies are small JSON documents; anything over :data:`MAX_BODY` is refused with 413
  before it is read into memory. A path given its own limit gets that limit instead, and only
  that path: the photo upload more, label, query and sign-in writes :data:`MAX_SMALL_BODY`.
* Pages and API answers carry headers that keep browsers from sniffing types, framing the page or
  running scripts from anywhere but the server itself; images load from the server itself and
  from the map tile server the operator configured, nowhere else. The referrer policy is
  ``same-origin``: other sites never learn a page's address (its query), while the page's own
  changes keep their ``Origin`` header, which the CSRF check reads (under ``no-referrer``
  browsers send ``Origin: null``).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
#: One label, one query's columns or a sign-in form: a few hundred bytes at most.
MAX_SMALL_BODY = 4 * 1024


def security_headers(img_sources: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """The headers of every answer; ``img_sources`` are origins images may also load from (map tiles)."""
    images = " ".join(("'self'", "data:", *img_sources))
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", f"default-src 'self'; img-src {images}; object-src 'none'; frame-ancestors 'none'".encode()),
    ]


_HEADERS = security_headers()  # of refusals, which carry no page


class _TooLarge(Exception):
    pass


class GuardMiddleware:
    """ASGI middleware applying the guards above; ``allowed_hosts`` None accepts any Host.

    ``body_limits`` maps exact request paths to their own body limit (bytes); ``img_sources``
    are origins (besides the server) that pages may load images from.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] | None = None, body_limits: dict[str, int] | None = None,
                 img_sources: tuple[str, ...] = ()):
        self.app = app
        self.headers = security_headers(img_sources)
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None
        self.body_limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.allowed_hosts is not None and host_name(headers.get(b"host", b"").decode("latin-1")) not in self.allowed_hosts:
            await _reject(send, 400, "Unknown Host header: this server answers only under its own loopback name.")
            return
        limit = self.body_limits.get(scope.get("path", ""), MAX_BODY)
        too_large_message = f"Request body too large (limit {limit} bytes)."
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, 413, too_large_message)
            return
        seen = 0
        started = too_large = False

        async def limited_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # the app turned the aborted read into its own error: answer 413 instead
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _reject(send, 413, too_large_message)
                return
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await _reject(send, 413, too_large_message)


def host_name(host: str) -> str:
    """The name part of a Host header: ``[::1]:8000`` → ``::1``, ``localhost:8000`` → ``localhost``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _reject(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())] + _HEADERS,
    })
    await send({"type": "http.response.body", "body": body})
