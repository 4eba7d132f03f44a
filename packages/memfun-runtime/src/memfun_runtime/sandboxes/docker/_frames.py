"""Decoding the Docker attach stream (stdout and stderr multiplexed in 8-byte-header frames)."""

from __future__ import annotations

import struct

__all__ = ["STDERR", "STDOUT", "FrameDecoder"]

STDOUT = 1
STDERR = 2
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
