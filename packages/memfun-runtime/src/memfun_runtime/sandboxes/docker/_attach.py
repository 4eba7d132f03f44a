"""A REPL channel over a Docker attach socket: demultiplexed stdout as a pipe, stdin as a file."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from typing import IO, Any

__all__ = ["AttachChannel", "FrameDecoder"]

_CHUNK = 65536
_STDOUT = 1
_HEADER = 8


class FrameDecoder:
    """Splits bytes read from a non-TTY attach socket into ``(stream, payload)`` frames.

    Each frame is ``[stream, 0, 0, 0, size (big-endian u32)]`` followed by ``size`` bytes;
    input may arrive cut anywhere, so partial frames are kept until completed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return every frame now complete, in order."""
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buffer) >= _HEADER:
            stream = self._buffer[0]
            (size,) = struct.unpack(">I", bytes(self._buffer[4:_HEADER]))
            if len(self._buffer) < _HEADER + size:
                break
            frames.append((stream, bytes(self._buffer[_HEADER : _HEADER + size])))
            del self._buffer[: _HEADER + size]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buffer)


def _raw(sock: Any) -> socket.socket:
    """The real socket behind what ``APIClient.attach_socket`` returned."""
    inner = getattr(sock, "_sock", sock)
    if not isinstance(inner, socket.socket):
        raise TypeError(f"unexpected attach socket type {type(inner).__name__}")
    return inner


class AttachChannel:
    """Turns one attach socket into the byte streams :class:`StreamReplSession` expects.

    Args:
        sock: The object ``docker.APIClient.attach_socket`` returned (stdin, stdout, stderr
            and stream requested; no TTY).
        stderr_cap: Bytes of the container's stderr kept for diagnostics.
    """

    def __init__(self, sock: Any, stderr_cap: int = 65536) -> None:
        self._sock = _raw(sock)
        self._stderr_cap = stderr_cap
        self._stderr = bytearray()
        read_fd, write_fd = os.pipe()
        self.stdout: IO[bytes] = os.fdopen(read_fd, "rb")
        self._write_fd = write_fd
        self.stdin: IO[bytes] = self._sock.makefile("wb")
        self._thread = threading.Thread(target=self._pump, name="memfun-docker-attach", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        decoder = FrameDecoder()
        try:
            while chunk := self._sock.recv(_CHUNK):
                for stream, payload in decoder.feed(chunk):
                    if stream == _STDOUT:
                        os.write(self._write_fd, payload)
                    else:
                        room = self._stderr_cap - len(self._stderr)
                        self._stderr += payload[: max(room, 0)]
        except OSError:
            pass
        finally:
            os.close(self._write_fd)

    @property
    def stderr_text(self) -> str:
        """What the container wrote to stderr so far (capped)."""
        return self._stderr.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Close the socket and both streams (idempotent)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._thread.join(5.0)
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
