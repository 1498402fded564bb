"""What every request passes before a route sees it, as trusted local servers do (Jupyter):

- the Host header must name this server (loopback names, or the --host it was started on, with its
  port), so a page elsewhere cannot reach it through DNS rebinding;
- a request that changes state (POST, PUT, PATCH, DELETE) from a browser must come from this
  server's own pages (its Origin), so a page elsewhere cannot submit or delete jobs;
- the access token, where one is set;
- the body's size, counted as it arrives (a chunked upload declares none).

Every response carries nosniff, a restrictive Content-Security-Policy and X-Frame-Options: DENY.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs, urlsplit

from ..core.config import ServeConfig

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
CHANGING = ("POST", "PUT", "PATCH", "DELETE")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
     b"style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"referrer-policy", b"no-referrer"),
]


def _name(host: str) -> str:
    """A host as Host headers write it: IPv6 in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(config: ServeConfig) -> set[str] | None:
    """The Host header values this server answers (None: any, for a server bound to every
    interface, which needs its token anyway)."""
    if config.host in WILDCARD:
        return None
    names = {_name(h) for h in (*LOOPBACK, config.host)}
    return names | {f"{n}:{config.port}" for n in names}


class Guard:
    """ASGI middleware: the checks above, in that order, then the app."""

    def __init__(self, app, config: ServeConfig):
        self.app, self.config = app, config
        self.hosts = allowed_hosts(config)
        self.body_limit = int(config.max_upload_mb * 1e6 * 2 + 1e6)  # a photo and a painting, and the form

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        refused = self.refusal(scope)
        if refused is not None:
            return await _json(send_with_headers, *refused)
        over = False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:
                    over = True
                    raise _TooLarge()
            return message

        async def until_over(message):
            if not over:  # once the body ran over, the 413 below is the answer
                await send_with_headers(message)

        received = 0
        try:
            await self.app(scope, counted, until_over)
        except Exception:
            if not over:
                raise
        if over:
            await _json(send_with_headers, 413, f"request too large (uploads are limited to "
                                                f"{self.config.max_upload_mb:g} MB each)")

    def refusal(self, scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            return 400, f"unknown host {host!r}: this server answers only to the addresses it was started on"
        origin = headers.get("origin")
        if scope["method"] in CHANGING and origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host:
                return 403, "cross-origin request refused: use this server's own page or a non-browser client"
        if self.config.token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = headers.get("authorization", "").removeprefix("Bearer ").strip() or \
                (query.get("token") or [""])[0]
            if not secrets.compare_digest(given.encode(), self.config.token.encode()):
                return 401, ("missing or wrong access token (send 'Authorization: Bearer TOKEN' or "
                             "?token=TOKEN)")
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.body_limit:
            return 413, f"request too large (uploads are limited to {self.config.max_upload_mb:g} MB each)"
        return None


class _TooLarge(Exception):
    pass


async def _json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
