"""The Host and Origin allow-lists of the HTTP gateway: a plain ASGI middleware.

A web page the user opens can make the browser send requests to ``127.0.0.1`` under its own
name (DNS rebinding: ``attacker.example`` first resolves to the attacker, then to 127.0.0.1);
the browser then sends ``Host: attacker.example:PORT`` and ``Origin: http://attacker.example``.
This guard answers 403 to any Host or Origin outside the allow-lists before anything else (the
token check, MCP) sees the request. Requests without an ``Origin`` (every non-browser client)
are judged by their Host alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "LOOPBACK_NAMES",
    "HostOriginGuard",
    "allowed_hosts",
    "allowed_origins",
    "is_loopback",
]

#: The names that reach a loopback-bound server from this machine.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_HTTP_DEFAULT_PORT = 80
_UNAUTHORIZED = 401

Rejection = Callable[[str, str], None]
"""Called with ``(reason, value)`` for every refused request (for the audit log)."""


def is_loopback(host: str) -> bool:
    """Whether a bind address or host name is on this machine only (``localhost``, 127/8, ::1)."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _with_port(name: str, port: int) -> str:
    name = name.strip().lower()
    if name.startswith("["):
        return name if "]:" in name else f"{name}:{port}"
    if name.count(":") > 1:  # a bare IPv6 address
        return f"[{name}]:{port}"
    return name if ":" in name else f"{name}:{port}"


def allowed_hosts(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host header values accepted: the loopback names and ``extra``, each with ``port``.

    A name given with its own port (``example.com:443``) keeps it.
    """
    hosts = {_with_port(name, port) for name in (*LOOPBACK_NAMES, *extra)}
    if port == _HTTP_DEFAULT_PORT:  # clients leave the default port out of Host
        hosts |= {host.rsplit(":", 1)[0] for host in hosts}
    return frozenset(hosts)


def _origin(value: str) -> str:
    return value.strip().lower().rstrip("/")


def allowed_origins(port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Origin header values accepted: ``http://<loopback name>:<port>`` and ``extra``."""
    origins = {f"http://{_with_port(name, port)}" for name in LOOPBACK_NAMES}
    return frozenset(origins | {_origin(value) for value in extra})


class HostOriginGuard:
    """ASGI middleware: 403 for a Host or Origin outside the allow-lists (lifespan passes)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: frozenset[str],
        origins: frozenset[str],
        on_reject: Rejection | None = None,
    ) -> None:
        """Guard ``app``; ``hosts`` and ``origins`` come from :func:`allowed_hosts`/``_origins``."""
        self.app = app
        self.hosts = hosts
        self.origins = origins
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse the request, or hand it to the wrapped app."""
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        headers = cast_headers(scope.get("headers", []))
        hosts = headers.get("host", [])
        origins = headers.get("origin", [])
        refusal: tuple[str, str] | None = None
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            refusal = ("Host not allowed", ", ".join(hosts) or "(none)")
        elif len(origins) > 1 or (origins and _origin(origins[0]) not in self.origins):
            refusal = ("Origin not allowed", ", ".join(origins))
        if refusal is None:
            await self.app(scope, receive, self._watch(scope, send))
            return
        if self.on_reject is not None:
            self.on_reject(*refusal)
        await _forbid(scope, send, refusal[0])

    def _watch(self, scope: Scope, send: Send) -> Send:
        """``send``, telling ``on_reject`` of a 401 (no valid bearer token) on the way."""
        on_reject = self.on_reject
        if on_reject is None:
            return send

        async def watched(message: Any) -> None:
            if (
                message.get("type") == "http.response.start"
                and message.get("status") == _UNAUTHORIZED
            ):
                on_reject("no valid bearer token", str(scope.get("path", "")))
            await send(message)

        return watched


def cast_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """ASGI header pairs as ``{lower-case name: [values]}`` (latin-1, as HTTP defines)."""
    headers: dict[str, list[str]] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return headers


async def _forbid(scope: Scope, send: Callable[[Any], Awaitable[None]], reason: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    body = f"403 Forbidden: {reason} (see `memfun mcp serve --help`: --allow-host, --allow-origin)"
    payload = body.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(payload)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
