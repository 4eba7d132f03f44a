"""Helpers for tests that need a Redis server (Memfun's own and users').

They never import redis-py at module import, so a test suite can consult them while the
``redis`` extra is missing.

Example:
    >>> from memfun_runtime.backends.redis.testing import redis_url
    >>> redis_url()  # MEMFUN_REDIS_URL, or the local default
    'redis://127.0.0.1:6379/0'
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from memfun_runtime.backends._names import namespace_for, service_skip_reason

__all__ = [
    "PrivateRedis",
    "free_port",
    "namespace_for",
    "purge_namespace",
    "redis_answers",
    "redis_skip_reason",
    "redis_url",
]

_DEFAULT = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """Return ``MEMFUN_REDIS_URL`` or ``redis://127.0.0.1:6379/0``."""
    return os.environ.get("MEMFUN_REDIS_URL") or _DEFAULT


def redis_answers(url: str) -> bool:
    """Return whether a Redis server answers a PING at ``url`` within a second."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 6379)
    try:
        with socket.create_connection(address, timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # +PONG, or -NOAUTH when a password is needed (the server is there).
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def redis_skip_reason(url: str | None = None) -> str | None:
    """Return why Redis tests cannot run here, or ``None`` when the server answers.

    Raises:
        BackendUnavailable: No server answers but ``MEMFUN_REQUIRE_SERVICES=1`` demands one.
    """
    return service_skip_reason(
        "redis", url or redis_url(), redis_answers, start="start redis-server"
    )


def purge_namespace(namespace: str, url: str | None = None) -> int:
    """Delete every key of ``namespace`` on the server (synchronously); return the count."""
    import redis

    factory: Any = redis.Redis
    client: Any = factory.from_url(url or redis_url(), socket_timeout=5)
    try:
        names: list[Any] = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        return int(client.unlink(*names)) if names else 0
    finally:
        client.close()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own on a free port, with an append-only file fsynced per write.

    Fault tests stop, kill and restart it; the shared server on 6379 is never touched.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (again, on the same port and data folder) and wait for it."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--logfile", str(self.folder / "redis.log"),
            ],
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"private redis-server did not start: see {self.folder}")
            time.sleep(0.02)

    def kill(self, sig: int) -> None:
        """Send ``sig`` (SIGKILL, SIGTERM) and wait for the server to exit."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        """Terminate the server if it runs (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
