"""Refusing network access outside loopback while a test runs."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, cast

__all__ = ["NetworkBlockedError", "block_network"]

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NetworkBlockedError(ConnectionRefusedError):
    """A test tried to reach a host other than loopback (a real model, the internet)."""


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    text = str(host).strip("[]").split("%", 1)[0]
    if text.lower() in _LOCAL_NAMES or text == "":
        return True
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@contextmanager
def block_network(
    on_attempt: Callable[[str], None] | None = None,
) -> Generator[list[str]]:
    """Refuse every connection and name lookup that is not loopback or a Unix socket.

    Yields the list of refused targets (``"host:port"``), which grows as attempts happen.
    Each refused attempt raises :class:`NetworkBlockedError` where it was made and is also
    reported to ``on_attempt``, because libraries sometimes swallow the error and fall back
    silently (a test must still fail).
    """
    attempts: list[str] = []
    lock = threading.Lock()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(target: str) -> NetworkBlockedError:
        with lock:
            attempts.append(target)
        if on_attempt is not None:
            on_attempt(target)
        return NetworkBlockedError(
            f"network access to {target} is blocked in tests; only loopback is allowed "
            "(mark the test with @pytest.mark.network if it must reach the network)"
        )

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            pair = cast("tuple[object, ...]", address)
            if not _is_local(pair[0]):
                raise refuse(f"{pair[0]}:{pair[1]}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host):
            raise refuse(f"{host}:{port}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
