"""Helpers for tests that need a NATS JetStream server (Memfun's own and users').

They never import nats-py at module import, so a test suite can consult them while the
``nats`` extra is missing.

Example:
    >>> from memfun_runtime.backends.nats.testing import nats_url
    >>> nats_url()  # MEMFUN_NATS_URL, or the local default
    'nats://127.0.0.1:4222'
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from memfun_runtime.backends._names import namespace_for, service_skip_reason

__all__ = [
    "namespace_for",
    "nats_answers",
    "nats_skip_reason",
    "nats_url",
    "purge_namespaces",
]

_DEFAULT = "nats://127.0.0.1:4222"
_KINDS = ("EVENTS", "TASKS", "INVOCATIONS")
_BUCKETS = ("state", "tasks", "tasks_done", "sessions", "agents", "skills")


def nats_url() -> str:
    """Return ``MEMFUN_NATS_URL`` or ``nats://127.0.0.1:4222``."""
    return os.environ.get("MEMFUN_NATS_URL") or _DEFAULT


def nats_answers(url: str) -> bool:
    """Return whether a NATS server greets a TCP client at ``url`` within a second."""
    return _greeting(url).startswith(b"INFO ")


def _greeting(url: str) -> bytes:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 4222), timeout=1.0
        ) as sock:
            sock.settimeout(1.0)
            return sock.recv(4096)
    except OSError:
        return b""


def nats_skip_reason(url: str | None = None) -> str | None:
    """Return why NATS tests cannot run here, or ``None`` when the server answers.

    Raises:
        BackendUnavailable: No server answers but ``MEMFUN_REQUIRE_SERVICES=1`` demands one.
    """
    return service_skip_reason(
        "nats", url or nats_url(), nats_answers, start="start `nats-server -js`"
    )


def purge_namespaces(namespaces: list[str], url: str | None = None) -> int:
    """Delete every stream and bucket of ``namespaces`` (synchronously); return the count.

    Call it outside a running event loop (e.g. from a session fixture's teardown).
    """
    return asyncio.run(_purge(namespaces, url or nats_url()))


async def _purge(namespaces: list[str], url: str) -> int:
    import nats.js.errors
    from nats.aio.client import Client

    nc = Client()
    await nc.connect(servers=[url], connect_timeout=5, max_reconnect_attempts=1)  # pyright: ignore[reportUnknownMemberType]
    js = nc.jetstream(timeout=10)  # pyright: ignore[reportUnknownMemberType]
    removed = 0
    try:
        for namespace in namespaces:
            names = [f"{namespace}_{kind}" for kind in _KINDS]
            names += [f"KV_{namespace}_{kind}" for kind in _BUCKETS]
            for name in names:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_stream(name)
                    removed += 1
    finally:
        await nc.close()
    return removed


def _free_port() -> int:
    """A free port below Linux's ephemeral range: no ``bind(0)`` takes it during a restart."""
    while True:
        port = secrets.randbelow(12_000) + 20_000
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _stopped(stat: Path) -> bool:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # the thread is gone
    return fields[0] in ("T", "t")


class PrivateNats:
    """A ``nats-server -js`` of one test: its own port and store folder, never the shared one.

    Args:
        folder: Where the server keeps its JetStream store (survives restarts).
    """

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise FileNotFoundError("nats-server is not installed (it is needed by this test)")
        self._binary = binary
        self.port = _free_port()
        self.store = folder / "jetstream"
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False
        self._name = f"memfun-test-{secrets.token_hex(6)}"

    def start(self) -> None:
        """Start (or restart) the server on the same port and store; wait until it answers.

        On the first start a port taken meanwhile by another process is replaced by a new
        free one (``url`` changes); a restart keeps the port.
        """
        if self._process is not None and self._process.poll() is None:
            return
        for _ in range(5):
            if self._launch():
                self._started = True
                return
            if self._started:
                break
            self.port = _free_port()
            self.url = f"nats://127.0.0.1:{self.port}"
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def _launch(self) -> bool:
        args = ["-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)]
        process = self._process = subprocess.Popen(
            [self._binary, *args, "-n", self._name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10.0
        # another server on the same port would answer too: check the name in its greeting
        while process.poll() is None and self._name.encode() not in _greeting(self.url):
            if time.monotonic() > deadline:
                self.kill()
                return False
            time.sleep(0.02)
        return process.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the server (a crash) and reap it."""
        self._signal(signal.SIGKILL)
        self._wait()

    def stop(self) -> None:
        """SIGTERM the server (a clean shutdown) and reap it."""
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        self._wait()

    def freeze(self) -> None:
        """SIGSTOP the server and wait until every thread stopped: nothing answers any more.

        (A stop is delivered to each thread of the Go process asynchronously; until all have
        stopped a request sent meanwhile may still be answered.)
        """
        self._signal(signal.SIGSTOP)
        if self._process is None:
            return
        tasks = Path(f"/proc/{self._process.pid}/task")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not all(
            _stopped(task / "stat") for task in tasks.iterdir()
        ):
            time.sleep(0.005)

    def thaw(self) -> None:
        """SIGCONT a frozen server."""
        self._signal(signal.SIGCONT)

    def _wait(self) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
