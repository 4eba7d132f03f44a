"""``memfun`` on a real pseudo-terminal: type keys, wait for text, get the exit code."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from memfun_cli.testing._project import MEMFUN, cli_env

__all__ = ["TERMINAL_ENV", "Terminal"]

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|\r")
_WAIT = 120.0
_ROWS, _COLUMNS = 50, 160

#: What a plain terminal of the pty's size sets (no colours, no cursor-position queries).
TERMINAL_ENV: Mapping[str, str] = MappingProxyType(
    {
        "TERM": "xterm",
        "NO_COLOR": "1",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "COLUMNS": str(_COLUMNS),  # the pty's size, whatever the caller's terminal is
        "LINES": str(_ROWS),
    }
)


class Terminal:
    """A ``memfun`` process on a real pseudo-terminal, in :func:`cli_env`'s environment.

    Waits are generous (a loaded machine) and are never assertions of speed: ``expect``
    raises ``AssertionError`` with everything the terminal showed when the text never comes.
    """

    def __init__(self, project: Path, *args: str) -> None:
        """Start ``memfun ARGS`` in ``project`` on a new pseudo-terminal."""
        env = cli_env(project, TERMINAL_ENV)
        pid, fd = pty.fork()
        if pid == 0:  # child
            os.chdir(project)
            os.execve(MEMFUN, [MEMFUN, *args], env)  # noqa: S606 - our own script, no shell
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", _ROWS, _COLUMNS, 0, 0))
        self.pid, self.fd = pid, fd
        self.raw = b""
        self.seen = 0  # expect() searches the output after the previous match
        self.status: int | None = None

    @property
    def text(self) -> str:
        """Everything shown so far, without escape sequences."""
        return _ANSI.sub(b"", self.raw).decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, pattern: str, timeout: float = _WAIT) -> str:
        """Wait until ``pattern`` (a regex) appears in the new output; return the match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match.group(0)
            if time.monotonic() > deadline or not self._read(0.5):
                raise AssertionError(
                    f"{pattern!r} did not appear; the terminal showed:\n{self.text}"
                )

    def send(self, keys: str) -> None:
        r"""Type ``keys`` (``\r`` is Enter, ``\x03`` Ctrl-C)."""
        os.write(self.fd, keys.encode())

    def wait(self, timeout: float = _WAIT) -> int:
        """Wait for the process to end (draining its output); return its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self._read(0.2)
        raise AssertionError(f"memfun did not exit; the terminal showed:\n{self.text}")

    def close(self) -> None:
        """Kill the process if it still runs, and close the terminal."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)
