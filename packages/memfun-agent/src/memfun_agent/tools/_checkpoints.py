"""Checkpoints: each file a run changed, byte for byte and with its mode, before and after.

A :class:`CheckpointRecorder` is made current (:func:`recording`) around an agent run; the
run's :class:`~memfun_agent.tools.ChangeTracker` hands it every path before the file tools
first touch it, and :meth:`CheckpointRecorder.finish` reads the files again at the end. The
result, a :class:`Checkpoint`, is what ``memfun undo`` and chat's ``/undo`` restore (see
:mod:`memfun_agent.tools._undo` for where checkpoints are kept).
"""

from __future__ import annotations

import contextvars
import os
import stat
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "Checkpoint",
    "CheckpointRecorder",
    "FileChange",
    "FileState",
    "current_recorder",
    "recording",
]

_CURRENT: contextvars.ContextVar[CheckpointRecorder | None] = contextvars.ContextVar(
    "memfun_checkpoint_recorder", default=None
)


@dataclass(frozen=True, slots=True)
class FileState:
    """A file's bytes and permission bits (``content=None``: the file did not exist).

    Attributes:
        content: The file's bytes, or ``None`` when there was no file.
        mode: The permission bits (``0o644``), or ``None`` when there was no file.
        missing_dirs: For a file that did not exist: the folders above it that did not
            exist either (relative paths, deepest first), removed again by an undo.
    """

    content: bytes | None
    mode: int | None = None
    missing_dirs: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        """Whether there was a file."""
        return self.content is not None


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file a run changed: its path (relative, POSIX) and its states before and after."""

    path: str
    before: FileState
    after: FileState


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The files one run (a task or a chat turn) changed."""

    run_id: str
    task: str
    created_at: float
    files: tuple[FileChange, ...]


def read_state(root: Path, relative: str) -> FileState:
    """The current state of ``relative`` under ``root`` (a missing file has no content).

    Raises:
        OSError: The file exists but cannot be read.
    """
    target = root / relative
    try:
        info = target.stat()
    except FileNotFoundError:
        return FileState(None, None, _missing_dirs(root, relative))
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(f"{relative} is not a regular file")
    return FileState(target.read_bytes(), stat.S_IMODE(info.st_mode))


def _missing_dirs(root: Path, relative: str) -> tuple[str, ...]:
    missing: list[str] = []
    parent = PurePosixPath(relative).parent
    while str(parent) not in ("", "."):
        if (root / parent).is_dir():
            break
        missing.append(str(parent))
        parent = parent.parent
    return tuple(missing)


class CheckpointRecorder:
    """Collects the state of each file before a run's first change to it.

    Args:
        root: The workspace root (resolved).
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._before: dict[str, FileState] = {}
        self._lock = threading.Lock()

    def record_before(self, path: str) -> None:
        """Remember ``path`` (as a tool got it) unless it is already remembered.

        Paths outside the root, or files that cannot be read, are skipped: the file tools
        refuse those writes themselves.
        """
        try:
            target = (self.root / path).resolve()
        except (OSError, RuntimeError):
            return
        if not target.is_relative_to(self.root) or target == self.root:
            return
        relative = target.relative_to(self.root).as_posix()
        with self._lock:
            if relative in self._before:
                return
            try:
                self._before[relative] = read_state(self.root, relative)
            except OSError:
                return

    def finish(self, run_id: str, task: str) -> Checkpoint:
        """The checkpoint of the files whose bytes, mode or existence changed."""
        with self._lock:
            before = dict(self._before)
        files: list[FileChange] = []
        for relative in sorted(before):
            try:
                after = read_state(self.root, relative)
            except OSError:
                after = FileState(None)
            old = before[relative]
            if (old.content, old.mode) != (after.content, after.mode):
                files.append(FileChange(relative, old, after))
        return Checkpoint(run_id=run_id, task=task, created_at=time.time(), files=tuple(files))


def current_recorder() -> CheckpointRecorder | None:
    """The recorder made current by :func:`recording` in this context, if any."""
    return _CURRENT.get()


@contextmanager
def recording(root: Path | str | os.PathLike[str]) -> Generator[CheckpointRecorder, None, None]:
    """Make a new recorder current while a run executes in this context.

    The run's change tracker picks it up when it is created (inside the ``with`` block).
    """
    recorder = CheckpointRecorder(Path(root))
    token = _CURRENT.set(recorder)
    try:
        yield recorder
    finally:
        _CURRENT.reset(token)
