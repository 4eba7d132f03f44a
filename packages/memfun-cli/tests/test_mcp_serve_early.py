"""`memfun mcp serve` (stdio) answers `initialize` while the gateway loads, then hands over.

The early answer must be the one the gateway itself gives: the gateway receives the same
request, and a difference is written to stderr. These tests speak raw JSON-RPC lines to the
real command (the official client is used by test_mcp_commands.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO, Any

import pytest
from mcp_types import version as sdk_versions

from memfun_cli._mcp_stdio import HANDSHAKE_VERSIONS, MODERN_VERSIONS, EarlyInitialize
from memfun_cli.testing import MEMFUN, cli_env


def _send(stdin: IO[bytes], message: dict[str, Any]) -> None:
    stdin.write(json.dumps(message).encode() + b"\n")
    stdin.flush()


def _read(stdout: IO[bytes]) -> dict[str, Any]:
    line = stdout.readline()
    assert line, "the server closed its output"
    return json.loads(line)


def _initialize(version: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }


@pytest.mark.parametrize(
    ("asked", "agreed"), [("2025-06-18", "2025-06-18"), ("1999-01-01", "2025-11-25")]
)
def test_the_early_answer_is_the_gateways_and_the_session_goes_on(
    project: Path, asked: str, agreed: str
) -> None:
    proc = subprocess.Popen(
        [MEMFUN, "mcp", "serve", "--no-web"],
        cwd=project,
        env=cli_env(project),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        _send(proc.stdin, _initialize(asked))
        answer = _read(proc.stdout)
        _send(proc.stdin, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _send(proc.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        listed = _read(proc.stdout)
        call = {"name": "fs_read", "arguments": {"path": "calc.py"}}
        _send(proc.stdin, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call})
        called = _read(proc.stdout)
        proc.stdin.close()  # the client leaves: the server stops
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert answer["id"] == 1
    assert answer["result"]["protocolVersion"] == agreed
    assert answer["result"]["serverInfo"]["name"] == "memfun"
    assert str(project.resolve()) in answer["result"]["instructions"]
    assert listed["id"] == 2
    assert "fs_read" in {tool["name"] for tool in listed["result"]["tools"]}
    assert called["id"] == 3
    assert called["result"]["structuredContent"]["content"].startswith("def add")
    assert b"differs from the gateway's" not in stderr, stderr.decode()
    assert proc.returncode == 0, stderr.decode()


def test_only_a_handshake_initialize_is_answered_early() -> None:
    early = EarlyInitialize("memfun", "1.0", "tools")
    assert early.answer(_initialize("2026-07-28")) is None  # no handshake in that version
    assert early.answer({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}) is None
    assert early.answer({"jsonrpc": "2.0", "method": "initialize", "params": {}}) is None
    answered = early.answer(_initialize("2025-03-26"))
    assert answered is not None
    assert answered["result"]["protocolVersion"] == "2025-03-26"


def test_the_versions_are_the_sdks() -> None:
    # A new SDK that negotiates other versions must update _mcp_stdio (this fails first).
    assert HANDSHAKE_VERSIONS == sdk_versions.HANDSHAKE_PROTOCOL_VERSIONS
    assert MODERN_VERSIONS == sdk_versions.MODERN_PROTOCOL_VERSIONS
