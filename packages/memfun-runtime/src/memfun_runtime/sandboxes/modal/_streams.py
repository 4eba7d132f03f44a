"""Byte streams over a Modal ``ContainerProcess`` for :class:`StreamReplSession`."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from typing import IO, Any

__all__ = ["ProcessStreams"]

_log = logging.getLogger("memfun.sandbox")


class _Writer(io.RawIOBase):
    """Writes go to the process's stdin and are drained at once."""

    def __init__(self, process: Any) -> None:
        super().__init__()
        self._process = process

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._process.stdin.write(chunk)
        self._process.stdin.drain()
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # the remote side may already be gone
                self._process.stdin.write_eof()
                self._process.stdin.drain()
        super().close()


class ProcessStreams:
    """The process's stdout copied into a local pipe, and its stdin as a binary file."""

    def __init__(self, process: Any) -> None:
        self._process = process
        read_fd, write_fd = os.pipe()
        self._write_fd = write_fd
        self.stdout: IO[bytes] = os.fdopen(read_fd, "rb")
        self.stdin: IO[bytes] = io.BufferedWriter(_Writer(process))
        self._thread = threading.Thread(target=self._pump, name="memfun-modal-out", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for chunk in self._process.stdout:
                data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
                os.write(self._write_fd, data)
        except Exception as exc:  # the session then reports the worker as gone
            _log.debug("modal sandbox: output stream ended: %s", exc)
        finally:
            os.close(self._write_fd)

    def close(self) -> None:
        """Close both local ends (idempotent)."""
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
