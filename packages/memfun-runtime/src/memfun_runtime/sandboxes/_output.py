"""Reading a child's output without ever holding more than a fixed number of bytes."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import IO, Any

__all__ = ["CappedReader", "capped_text"]

_CHUNK = 65536


class CappedReader:
    """Drains a binary stream in a thread, keeping at most ``cap`` bytes.

    The stream is read to its end (so the writer never blocks on a full pipe); bytes past
    the cap are counted and dropped.
    """

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._data = bytearray()
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="memfun-capped-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._stream.fileno()
        try:
            while chunk := os.read(fd, _CHUNK):
                room = self._cap - len(self._data)
                if room > 0:
                    self._data += chunk[:room]
                self.dropped += max(0, len(chunk) - max(room, 0))
        except (OSError, ValueError):
            return

    def result(self, timeout: float | None = None) -> tuple[str, bool]:
        """Wait for the end of the stream (at most ``timeout`` s); return text and truncation."""
        self._thread.join(timeout)
        return self._data.decode("utf-8", errors="replace"), self.dropped > 0


def capped_text(chunks: Iterable[Any], cap: int) -> tuple[str, bool]:
    """The first ``cap`` bytes of a stream of chunks (bytes, or text), and whether it was cut."""
    data = bytearray()
    for chunk in chunks:
        raw = chunk if isinstance(chunk, bytes) else str(chunk).encode()
        room = cap - len(data)
        if len(raw) > room:
            data += raw[: max(room, 0)]
            return data.decode("utf-8", errors="replace"), True
        data += raw
    return data.decode("utf-8", errors="replace"), False
