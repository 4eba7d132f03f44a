"""Escape attempts through host Unix sockets and nested user namespaces (issue 15, item 3).

A host service listening on a Unix socket (Docker's ``/var/run/docker.sock``, the D-Bus
session bus, an ssh-agent under ``/tmp/ssh-*``) must not be reachable from sandboxed code,
in either mode: both deny ``socket(AF_UNIX, ...)`` with a seccomp filter (the weaker mode
because Landlock does not govern ``connect`` by path; bubblewrap mode because a socket file
in the bound workspace would still reach the host), and bubblewrap mode does not bind the
socket's folder in. Each attack runs against a real listening socket that records every
connection; host-side controls before and after prove the listener works and that nothing
from inside reached it (accept is first-in first-out, so a sandbox connection would be
recorded before the second control).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from memfun_runtime.protocols import FileSystemView, Mount, NetworkPolicy, SandboxLimits

_LIMITS = SandboxLimits(wall_seconds=20.0, cpu_seconds=20.0, memory_mb=1024)


@dataclass
class UnixListener:
    """A host service on a Unix socket that records the first bytes of every connection."""

    path: Path
    server: socket.socket
    received: list[bytes] = field(default_factory=list[bytes])
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(100) or b"<connected>"
                except OSError:
                    data = b"<connected>"
            with self.arrived:
                self.received.append(data)
                self.arrived.notify_all()

    def control(self, marker: bytes) -> None:
        """Connect from the host, send ``marker`` and wait until the server recorded it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(self.path))
            client.sendall(marker)
        with self.arrived:
            assert self.arrived.wait_for(lambda: marker in self.received, timeout=30)


@pytest.fixture
def unix_listener() -> Iterator[UnixListener]:
    """A listening socket in a host temp folder, shaped like an ssh-agent's."""
    folder = Path(tempfile.mkdtemp(prefix="memfun-ssh-"))  # short: sun_path holds 108 bytes
    yield from _listening(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _listening(folder: Path) -> Iterator[UnixListener]:
    path = folder / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.settimeout(0.2)
    path.chmod(0o777)  # even a world-connectable socket must stay out of reach
    folder.chmod(0o755)
    listener = UnixListener(path=path, server=server)
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve, args=(stop,), daemon=True)
    thread.start()
    yield listener
    stop.set()
    thread.join()
    server.close()
    path.unlink(missing_ok=True)


def _connect_code(path: Path) -> str:
    return (
        "import socket\n"
        "try:\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        f"    s.connect({str(path)!r}); s.sendall(b'from-sandbox'); print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('DENIED', type(e).__name__, e.errno)\n"
    )


def _assert_unreached(listener: UnixListener, stdout: str, stderr: str) -> None:
    listener.control(b"control-after")
    assert "CONNECTED" not in stdout, stdout + stderr
    assert "DENIED" in stdout, stdout + stderr
    assert listener.received == [b"control-before", b"control-after"]


def test_cannot_connect_to_a_host_unix_socket_by_path(box, unix_listener: UnixListener) -> None:
    unix_listener.control(b"control-before")
    result = box.code(_connect_code(unix_listener.path))
    assert result.exit_code == 0, result.stderr
    _assert_unreached(unix_listener, result.stdout, result.stderr)


def test_unix_socket_stays_unreachable_when_the_network_is_allowed(
    box, unix_listener: UnixListener
) -> None:
    unix_listener.control(b"control-before")
    result = box.sandbox.run_code_sync(
        _connect_code(unix_listener.path),
        limits=_LIMITS,
        files=FileSystemView(workspace=str(box.workspace)),
        network=NetworkPolicy(allow=True),
    )
    assert result.exit_code == 0, result.stderr
    _assert_unreached(unix_listener, result.stdout, result.stderr)


def test_weak_mode_denies_a_unix_socket_even_in_a_folder_it_may_read(
    box, unix_listener: UnixListener
) -> None:
    # Landlock grants reading the socket's folder here; connect() must still be refused.
    if box.sandbox.mode != "landlock":
        pytest.skip("the weaker mode alone shares the host's paths (bubblewrap binds a view)")
    folder = str(unix_listener.path.parent)
    unix_listener.control(b"control-before")
    result = box.sandbox.run_code_sync(
        f"import os\nprint('LISTED', os.listdir({folder!r}))\n" + _connect_code(unix_listener.path),
        limits=_LIMITS,
        files=FileSystemView(
            workspace=str(box.workspace), mounts=(Mount(host_path=folder, sandbox_path=folder),)
        ),
    )
    assert result.exit_code == 0, result.stderr
    assert "agent.sock" in result.stdout  # control: the folder was readable
    _assert_unreached(unix_listener, result.stdout, result.stderr)


def test_a_host_socket_inside_the_workspace_is_unreachable_too(box) -> None:
    # The workspace is bound in (read-only or not): a socket file a host service put there
    # (or a repository planted a link to) connects to the host unless AF_UNIX is refused.
    for listener in _listening(box.workspace):
        listener.control(b"control-before")
        result = box.code(_connect_code(Path("agent.sock")))  # relative: the workspace is cwd
        assert result.exit_code == 0, result.stderr
        _assert_unreached(listener, result.stdout, result.stderr)


def test_socketpair_and_asyncio_still_work_inside(box) -> None:
    # Control for the AF_UNIX denial: asyncio's self-pipe is a socketpair, which is allowed.
    code = (
        "import asyncio, socket\n"
        "a, b = socket.socketpair(); a.sendall(b'pair'); print(b.recv(4).decode())\n"
        "async def main():\n    await asyncio.sleep(0)\n    return 'loop'\n"
        "print(asyncio.run(main()))\n"
    )
    result = box.code(code)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["pair", "loop"]


def test_cannot_create_a_nested_user_namespace(box) -> None:
    # A nested user namespace hands back every capability inside it (mount, network
    # configuration, ...) and a much larger kernel attack surface.
    marker = "userns-" + uuid.uuid4().hex
    code = (
        "import ctypes, os, subprocess\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.unshare(0x10000000) == 0:\n"  # CLONE_NEWUSER
        "    print('UNSHARED')\n"
        "else:\n"
        "    print('DENIED', os.strerror(ctypes.get_errno()))\n"
        f"done = subprocess.run(['/usr/bin/unshare', '-U', '-r', '/bin/echo', {marker!r}],\n"
        "                      capture_output=True, text=True)\n"
        f"print('TOOL', done.returncode, 'ECHOED' if {marker!r} in done.stdout else 'SILENT')\n"
    )
    result = box.code(code)
    assert result.exit_code == 0, result.stderr
    assert "UNSHARED" not in result.stdout, result.stdout
    assert "DENIED" in result.stdout, result.stdout + result.stderr
    tool = next(line for line in result.stdout.splitlines() if line.startswith("TOOL"))
    assert tool.endswith("SILENT"), tool
    assert not tool.startswith("TOOL 0"), tool
