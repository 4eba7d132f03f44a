"""Low-level file I/O under the workspace rules: checked reads and atomic writes."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from memfun_core.errors import BackendError, PermissionDeniedError, ValidationError
from memfun_tools._workspace import Workspace

__all__ = ["atomic_write", "read_bytes", "read_text"]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def read_bytes(ws: Workspace, real: Path, path: str) -> bytes:
    """Read a whole regular file, re-checking what the opened descriptor points at.

    Raises:
        PermissionDeniedError: When the file changed into a symlink or special file.
        ValidationError: When the file is over the size cap.
    """
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise PermissionDeniedError(f"open {path!r}", exc.strerror or str(exc)) from exc
    try:
        info = ws.check_open_fd(fd, path)
        if info.st_size > ws.limits.max_file_bytes:
            raise ValidationError(
                f"is {info.st_size} bytes",
                field="path",
                rule=f"files over {ws.limits.max_file_bytes} bytes are refused",
                location=path,
            )
        chunks: list[bytes] = []
        remaining = ws.limits.max_file_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(ws: Workspace, real: Path, path: str, *, strict: bool = False) -> str:
    """Read a file as UTF-8 text; binary files (a NUL byte early on) are refused.

    Args:
        ws: The workspace.
        real: The resolved path.
        path: The caller's path, for messages.
        strict: Refuse invalid UTF-8 instead of replacing it (editing must not corrupt bytes).

    Raises:
        ValidationError: When the file looks binary, or is not UTF-8 and ``strict``.
    """
    data = read_bytes(ws, real, path)
    if b"\x00" in data[:8192]:
        raise ValidationError(
            "looks binary (it contains NUL bytes)",
            field="path",
            rule="text files only",
            location=path,
        )
    try:
        return data.decode("utf-8", errors="strict" if strict else "replace")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"is not valid UTF-8 (byte {exc.start})",
            field="path",
            rule="UTF-8 text",
            location=path,
            hint="rewrite the whole file with the write tool if it must change",
        ) from exc


def atomic_write(real: Path, data: bytes) -> None:
    """Write ``data`` to ``real`` through a temporary file, fsync and a rename.

    The old content stays in place until the rename; on any failure the temporary file
    is removed and the old file is untouched. The old file's permission bits are kept.

    Raises:
        BackendError: When the disk refuses the write.
    """
    parent = real.parent
    try:
        old_mode = stat.S_IMODE(real.stat().st_mode)
    except FileNotFoundError:
        old_mode = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{real.name}.", suffix=".memfun-tmp")
    except OSError as exc:
        raise BackendError(f"cannot create a file in {parent}: {exc}", backend="disk") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if old_mode is not None:
            tmp.chmod(old_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        tmp.replace(real)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise BackendError(f"cannot write {real}: {exc}", backend="disk") from exc
        raise
    _fsync_dir(parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
