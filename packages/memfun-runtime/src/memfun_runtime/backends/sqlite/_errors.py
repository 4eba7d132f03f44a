"""Turn ``sqlite3`` exceptions into the Memfun error hierarchy (one place, one policy)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memfun_core.errors import (
    BackendError,
    BackendUnavailable,
    CorruptDataError,
    MemfunError,
    OperationTimeout,
)

__all__ = ["BACKEND", "HINT_DAMAGED", "map_sqlite_error"]

BACKEND = "sqlite"
"""The ``backend`` field of every error this tier raises."""

HINT_DAMAGED = "restore the file from a backup or move it away so a new one is created"

_UNAVAILABLE = (
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
)


def map_sqlite_error(
    exc: sqlite3.Error, *, path: Path, operation: str, busy_timeout: float
) -> MemfunError:
    """Return the :class:`MemfunError` that explains ``exc`` to the caller.

    Args:
        exc: What ``sqlite3`` raised.
        path: The database file.
        operation: What was being done, for the message (``"publishing to 'a.b'"``).
        busy_timeout: The configured busy timeout in seconds (for lock timeouts).
    """
    # The primary result code; errors raised by the module itself have none.
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in text:
        return OperationTimeout(
            f"{operation} (waiting for the SQLite write lock)",
            busy_timeout,
            backend=BACKEND,
            hint="another process holds the database lock for too long; "
            "raise busy_timeout or reduce the number of writers",
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or (
        isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text)
    ):
        return CorruptDataError(
            f"the SQLite database is damaged or not a database: {text}",
            backend=BACKEND,
            location=str(path),
            hint=HINT_DAMAGED,
        )
    if code in _UNAVAILABLE:
        return BackendUnavailable(
            f"{operation} failed: {text}",
            backend=BACKEND,
            target=str(path),
            hint="check that the file and its directory exist, are writable and the disk works",
        )
    if code == sqlite3.SQLITE_FULL:
        return BackendError(
            f"{operation} failed: the disk or database is full",
            backend=BACKEND,
            hint=f"free disk space on the volume holding {path}",
        )
    return BackendError(f"{operation} failed: {text}", backend=BACKEND)
