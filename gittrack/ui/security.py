"""Who may talk to the web UI: Host and Origin checks, a token off loopback, and the security
headers on every answer (refusals included).

- **Host** (DNS rebinding): a request whose ``Host`` is not one of the names the server is
  bound to is refused with 403. On loopback those are 127.0.0.1, localhost and ::1; with
  ``--host 0.0.0.0`` also this machine's host names and addresses, plus ``--allow-host``.
- **Token** (like Jupyter's): off loopback every request must carry the server's token, as
  ``?token=...`` (answered with an HttpOnly, SameSite=Strict cookie, so the page's own calls
  carry it), the cookie, or ``Authorization: token ...`` / ``Bearer ...``; else 401.
- **Origin** (cross-site writes): a write whose ``Origin`` differs from the server's own in
  scheme, host or port is refused with 403.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
COOKIE = "gittrack_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {b"content-security-policy": CSP.encode(), b"x-content-type-options": b"nosniff",
           b"referrer-policy": b"no-referrer", b"x-frame-options": b"DENY",
           b"cross-origin-opener-policy": b"same-origin",
           b"cross-origin-resource-policy": b"same-origin"}
DEFAULT_PORTS = {"http": 80, "https": 443}
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``--host`` is one of the loopback names (no token needed there)."""
    return host.strip("[]").lower() in LOOPBACK


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def bound_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host names a server bound to ``host`` answers to (see the module docstring)."""
    names = {*LOOPBACK, host.strip("[]").lower(), *(e.lower() for e in extra)}
    if host in WILDCARDS:
        machine = socket.gethostname()
        names |= {machine.lower(), socket.getfqdn().lower()}
        try:
            names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(machine, None)}
        except OSError:
            pass  # no resolvable name: the loopback names and the ones given still work
    return sorted(n for n in names if n)


def _split_host(value: str) -> tuple[str, int | None]:
    """``(host name, port or None)`` of a Host header (``[::1]:5000``, ``a.b:80``, ``a``)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = value.partition(":") if value.count(":") == 1 else (value, "", "")
    return name, int(port) if port.isdigit() else None


def same_origin(origin: str, scheme: str, host_header: str) -> bool:
    """Whether ``Origin`` names this server: same scheme, host and port (default ports filled)."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return False
    name, host_port = _split_host(host_header)
    return (parts.scheme == scheme and parts.hostname.lower() == name
            and (port or DEFAULT_PORTS[parts.scheme]) == (host_port or DEFAULT_PORTS[scheme]))


class Guard:
    """ASGI middleware: the checks above, and the security headers on every answer."""

    def __init__(self, app: ASGI, allowed_hosts: list[str] | None, token: str | None = None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        send = _with_headers(send, [])
        host = headers.get("host", "")
        if self.allowed_hosts is not None and _split_host(host)[0] not in self.allowed_hosts:
            await _refuse(scope, receive, send, 403, "forbidden",
                          f"Request refused: this server does not answer to the host {host!r}.")
            return
        origin = headers.get("origin")
        if scope.get("method") not in ("GET", "HEAD") and origin is not None \
                and not same_origin(origin, scope.get("scheme", "http"), host):
            await _refuse(scope, receive, send, 403, "forbidden",
                          "Request refused: a write from another origin.")
            return
        given = self._given_token(scope, headers)
        # compared as bytes: compare_digest refuses str holding anything but ASCII
        if self.token is not None and not (
                given and hmac.compare_digest(given[0].encode("utf-8", "surrogateescape"),
                                              self.token.encode("utf-8"))):
            await _refuse(scope, receive, send, 401, "unauthorized",
                          "This server needs its token: open the URL `gittrack ui` printed "
                          "(it ends in ?token=...), or send `Authorization: token ...`.")
            return
        if self.token is not None and given and given[1]:  # came in the URL: keep it as a cookie
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            send = _with_headers(send, [(b"set-cookie", cookie.encode("latin-1"))])
        await self.app(scope, receive, send)

    @staticmethod
    def _given_token(scope: Scope, headers: dict[str, str]) -> tuple[str, bool] | None:
        """``(token, came in the query string)`` from the request, or None."""
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip(), False
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                return value, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        return None


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", []))
            have = {k.lower() for k, _v in raw}
            raw += [(k, v) for k, v in HEADERS.items() if k not in have]
            message["headers"] = raw + extra
        await send(message)
    return sending


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, kind: str,
                  message: str) -> None:
    response = JSONResponse({"error": message, "kind": kind}, status_code=status)
    await response(scope, receive, send)
