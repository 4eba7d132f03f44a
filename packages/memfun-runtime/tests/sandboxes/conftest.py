"""Fixtures for the sandbox tests: one LocalSandbox per available mode, host canaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_runtime.protocols import FileSystemView, SandboxLimits, SandboxResult
from memfun_runtime.sandboxes import LocalSandbox
from memfun_runtime.sandboxes.local import probe

CANARY_KEY = "sk-memfun-canary-" + uuid.uuid4().hex


def _require() -> bool:
    return os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1"


def _mode_available(mode: str) -> str | None:
    caps = probe()
    if mode == "namespaces" and not caps.namespaces:
        return f"bubblewrap namespaces unavailable: {caps.namespace_error}"
    if mode == "landlock" and not (caps.landlock_abi >= 1 and caps.seccomp):
        return "Landlock or seccomp unavailable on this kernel"
    return None


@dataclass
class Box:
    """A sandbox in one mode plus a workspace and a secret outside it."""

    sandbox: LocalSandbox
    workspace: Path
    outside: Path
    secret: Path

    def code(self, code: str, **limits: object) -> SandboxResult:
        merged = {"wall_seconds": 20.0, "cpu_seconds": 20.0, "memory_mb": 1024, **limits}
        return self.sandbox.run_code_sync(
            code,
            limits=SandboxLimits(**merged),  # type: ignore[arg-type]
            files=FileSystemView(workspace=str(self.workspace)),
        )


@pytest.fixture(params=["namespaces", "landlock"])
def box(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Box:
    mode = str(request.param)
    reason = _mode_available(mode)
    if reason is not None:
        if _require() and mode == "namespaces":
            pytest.fail(f"MEMFUN_REQUIRE_SERVICES=1 but {reason} (apt-get install bubblewrap)")
        pytest.skip(reason)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY_KEY)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("TOP-SECRET-" + uuid.uuid4().hex)
    sandbox = LocalSandbox(mode="landlock" if mode == "landlock" else "auto")
    expected = "strong" if mode == "namespaces" else "weak"
    assert sandbox.isolation == expected
    return Box(sandbox=sandbox, workspace=workspace, outside=outside, secret=secret)


@pytest.fixture
def host_canary() -> Iterator[subprocess.Popen[bytes]]:
    """A host process the sandbox must not be able to touch."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def tcp_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 recording what it receives."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                received.append(conn.recv(100) or b"<connected>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def processes_gone(marker: str, within: float = 10.0) -> list[int]:
    """Wait until no host process carries ``marker`` (killing is asynchronous under load).

    Returns the pids still alive after ``within`` seconds: ``[]`` when they all died.
    """
    deadline = time.monotonic() + within
    while (alive := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.fixture
def find_processes():
    return processes_with


@pytest.fixture
def wait_gone():
    return processes_gone


@pytest.fixture
def canary_key() -> str:
    return CANARY_KEY
