"""``memfun mcp serve`` on stdio: ``initialize`` is answered while the gateway loads.

FastMCP and the ``mcp`` SDK take about a second of CPU to import, and a client waits for the
answer to ``initialize`` before it does anything. :func:`serve_stdio` answers that first
request itself, from what the gateway will announce (its name, version, instructions and
capabilities), while the main thread imports FastMCP and builds the gateway. The gateway's
own session then receives the same ``initialize`` (under a private id, its answer is not
forwarded) followed by everything the client sent, in order, so it is initialized as if the
client had spoken to it directly. Its answer to the replayed request is compared with the
early one; a difference is written to stderr (a test checks there is none).

Only a first message that is an ``initialize`` request with a protocol version negotiated by
handshake is answered early; anything else goes to the gateway untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["CAPABILITIES", "HANDSHAKE_VERSIONS", "EarlyInitialize", "serve_stdio"]

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The protocol versions the ``mcp`` SDK negotiates by ``initialize`` (oldest first)."""

MODERN_VERSIONS = ("2026-07-28",)
"""Versions without the handshake: never answered early."""

CAPABILITIES: dict[str, Any] = {
    "logging": {},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": False, "listChanged": True},
    "tools": {"listChanged": True},
}
"""What the gateway's FastMCP server announces."""

_REPLAY_ID = "memfun-early-initialize-4f1d2c"


@dataclass(frozen=True, slots=True)
class EarlyInitialize:
    """What the gateway announces in its answer to ``initialize``.

    Attributes:
        name: The server's name.
        version: The server's version.
        instructions: The server's instructions.
    """

    name: str
    version: str
    instructions: str

    def answer(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to ``request``, or ``None`` when the gateway must answer it."""
        if request.get("jsonrpc") != "2.0" or request.get("method") != "initialize":
            return None
        if "id" not in request:
            return None
        params = request.get("params")
        if not isinstance(params, dict):
            return None
        asked = cast("dict[str, Any]", params).get("protocolVersion")
        if not isinstance(asked, str) or asked in MODERN_VERSIONS:
            return None
        version = asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1]
        result = {
            "protocolVersion": version,
            "capabilities": CAPABILITIES,
            "serverInfo": {"name": self.name, "version": self.version},
            "instructions": self.instructions,
        }
        return {"jsonrpc": "2.0", "id": request["id"], "result": result}


def serve_stdio(build: Callable[[], FastMCP[Any]], early: EarlyInitialize) -> None:
    """Serve the gateway ``build`` returns on stdin/stdout, answering ``initialize`` early.

    The process's stdin and stdout become pipes to the gateway; two threads carry the
    client's messages in and the gateway's out.
    """
    client_in = os.fdopen(os.dup(0), "rb", buffering=0)
    client_out = os.fdopen(os.dup(1), "wb", buffering=0)
    to_gateway_r, to_gateway_w = os.pipe()
    from_gateway_r, from_gateway_w = os.pipe()
    os.dup2(to_gateway_r, 0)
    os.dup2(from_gateway_w, 1)
    os.close(to_gateway_r)
    os.close(from_gateway_w)
    sent: list[dict[str, Any]] = []
    lock = threading.Lock()

    def write(line: bytes) -> None:
        with lock:
            client_out.write(line)

    inbound = threading.Thread(
        target=_pump_in,
        args=(client_in, os.fdopen(to_gateway_w, "wb", buffering=0), early, sent, write),
        name="mcp-stdin",
        daemon=True,
    )
    outbound = threading.Thread(
        target=_pump_out,
        args=(os.fdopen(from_gateway_r, "rb", buffering=0), sent, write),
        name="mcp-stdout",
        daemon=True,
    )
    inbound.start()
    outbound.start()
    try:
        server = build()
        server.run(transport="stdio", show_banner=False)
    finally:
        sys.stdout.flush()
        # Closing the gateway's end (fd 1, now /dev/null) lets the outbound pump finish.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        outbound.join(10)


def _readlines(stream: BinaryIO) -> Iterator[bytes]:
    buffer = b""
    while True:
        chunk = stream.read(65536)
        if not chunk:
            if buffer:
                yield buffer
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line + b"\n"


def _pump_in(
    client: BinaryIO,
    gateway: BinaryIO,
    early: EarlyInitialize,
    sent: list[dict[str, Any]],
    write: Callable[[bytes], None],
) -> None:
    first = True
    with contextlib.suppress(OSError), gateway:  # OSError: the gateway stopped reading
        for line in _readlines(client):
            out = line
            if first and line.strip():
                first = False
                out = _first(line, early, sent, write)
            gateway.write(out)


def _first(
    line: bytes,
    early: EarlyInitialize,
    sent: list[dict[str, Any]],
    write: Callable[[bytes], None],
) -> bytes:
    """Answer the first message when it is ``initialize``; what the gateway receives."""
    try:
        request = json.loads(line)
    except ValueError:
        return line
    if not isinstance(request, dict):
        return line
    message = cast("dict[str, Any]", request)
    answer = early.answer(message)
    if answer is None:
        return line
    sent.append(answer)
    write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
    replay = dict(message, id=_REPLAY_ID)
    return json.dumps(replay, separators=(",", ":")).encode() + b"\n"


def _pump_out(
    gateway: BinaryIO, sent: list[dict[str, Any]], write: Callable[[bytes], None]
) -> None:
    for line in _readlines(gateway):
        if sent and _REPLAY_ID.encode() in line and _is_replay_answer(line, sent[0]):
            continue
        write(line)


def _is_replay_answer(line: bytes, ours: dict[str, Any]) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    if not isinstance(message, dict):
        return False
    answer = cast("dict[str, Any]", message)
    if answer.get("id") != _REPLAY_ID:
        return False
    if answer.get("result") != ours["result"]:
        theirs = json.dumps(answer.get("result", answer.get("error")), sort_keys=True)
        sys.stderr.write(
            "memfun mcp serve: the early answer to initialize differs from the gateway's: "
            f"sent {json.dumps(ours['result'], sort_keys=True)}, the gateway says {theirs}\n"
        )
        sys.stderr.flush()
    return True
