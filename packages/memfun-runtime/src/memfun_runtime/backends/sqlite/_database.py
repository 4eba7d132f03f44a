"""Opening, checking and closing the one SQLite file of a T1 backend.

Durability: the file is in WAL mode. With ``synchronous="normal"`` (the default) a commit
has been written to the WAL file (handed to the operating system) before the call that made
it returns: it survives a crash or SIGKILL of any process, but the newest commits can be
lost if the machine itself loses power. ``synchronous="full"`` also fsyncs the WAL on every
commit (group commit shares one fsync among all writes of a batch) and survives power loss.
"""

from __future__ import annotations

import math
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from memfun_core.errors import (
    BackendUnavailable,
    ConfigError,
    CorruptDataError,
    MemfunError,
    ValidationError,
)
from memfun_runtime.backends._services import not_started
from memfun_runtime.backends.sqlite._errors import BACKEND, map_sqlite_error
from memfun_runtime.backends.sqlite._notify import Notifier
from memfun_runtime.backends.sqlite._schema import check_schema, ensure_schema
from memfun_runtime.backends.sqlite._writer import Writer

__all__ = ["Database", "Synchronous", "check_file"]

Synchronous = Literal["normal", "full"]
"""``PRAGMA synchronous`` in WAL mode: ``normal`` survives process crashes, ``full`` also
power loss."""

_HEADER = b"SQLite format 3\x00"
_HINT_DAMAGED = "restore the file from a backup or move it away so a new one is created"


def check_file(path: Path) -> None:
    """Refuse, before SQLite touches it, a path that cannot hold a usable database.

    Raises:
        CorruptDataError: The path is not a regular file, cannot be read, or does not start
            with the SQLite header.
        BackendUnavailable: The parent directory does not exist and cannot be created.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot create the directory for the database: {exc.strerror}",
                backend=BACKEND,
                target=str(path.parent),
                hint="choose a data directory you can write to",
            ) from exc
        return
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if not stat.S_ISREG(info.st_mode):
        raise CorruptDataError(
            "the database path is not a regular file",
            backend=BACKEND,
            location=str(path),
            hint="point the runtime at a file path, e.g. .memfun/runtime.db",
        )
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if header and (len(header) < len(_HEADER) or not header.startswith(_HEADER)):
        raise CorruptDataError(
            "the file is not a SQLite database (wrong header)",
            backend=BACKEND,
            location=str(path),
            hint=_HINT_DAMAGED,
        )


def _unreadable(path: Path, exc: OSError) -> CorruptDataError:
    return CorruptDataError(
        f"the database file cannot be read: {exc.strerror}",
        backend=BACKEND,
        location=str(path),
        hint="check the permissions and owner of the file and of its directories",
    )


class Database:
    """The backend's two connections: one writer (group commit) and one reader.

    Reads go to the reader connection, which sees every committed write (WAL snapshots are
    taken per statement) and never waits for the writer.

    Attributes:
        path: The database file.
        writer: The group-commit loop; every write goes through it.
        notifier: Local wake-ups after commits.
    """

    def __init__(
        self,
        path: Path,
        writer_conn: aiosqlite.Connection,
        reader_conn: aiosqlite.Connection,
        *,
        busy_timeout: float,
    ) -> None:
        self.path = path
        self._writer_conn = writer_conn
        self._reader = reader_conn
        self.busy_timeout = busy_timeout
        self.notifier = Notifier()
        self.writer = Writer(
            writer_conn, path=path, busy_timeout=busy_timeout, notifier=self.notifier
        )
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "normal",
        busy_timeout: float = 5.0,
        verify: bool = True,
    ) -> Database:
        """Open (creating or migrating) the database at ``path`` and start its writer.

        Args:
            path: The database file; created with its directory when missing.
            synchronous: See the module docstring.
            busy_timeout: Seconds to wait for another process's lock before failing.
            verify: Run ``PRAGMA quick_check`` on an existing file (reads the whole file).

        Raises:
            CorruptDataError: The file is unreadable, not a SQLite database, or damaged.
            ConfigError: A newer schema or another application's database.
            ValidationError: A bad setting.
            BackendUnavailable: The file cannot be opened or written.
        """
        if synchronous not in ("normal", "full"):
            raise ValidationError(
                f"must be 'normal' or 'full', not {synchronous!r}",
                field="synchronous",
                rule="one of normal, full",
            )
        if not (math.isfinite(busy_timeout) and busy_timeout > 0):
            raise ValidationError(
                f"must be a finite number of seconds > 0, not {busy_timeout!r}",
                field="busy_timeout",
                rule="> 0",
            )
        path = Path(path)
        check_file(path)
        existed = path.exists() and path.stat().st_size > 0
        conns: list[aiosqlite.Connection] = []
        try:
            writer = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
            conns.append(writer)
            if existed:
                if verify:
                    await _quick_check(writer, path)
                await check_schema(writer, path)  # before WAL mode changes the header
            await _configure(writer, synchronous, path)
            await ensure_schema(writer, path)
            reader = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
            conns.append(reader)
            await reader.execute("PRAGMA query_only = ON")
        except (sqlite3.Error, MemfunError) as exc:
            for conn in conns:
                await conn.close()
            if isinstance(exc, MemfunError):
                raise
            raise map_sqlite_error(
                exc, path=path, operation="opening the database", busy_timeout=busy_timeout
            ) from exc
        database = cls(path, writer, reader, busy_timeout=busy_timeout)
        database.writer.start()
        return database

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query on the reader connection and return every row.

        Raises:
            ConflictError: The database is closed.
            BackendUnavailable: The database cannot be read.
            CorruptDataError: The file turned out to be damaged.
        """
        if self._closed:
            raise not_started("SQLite")
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise map_sqlite_error(
                exc, path=self.path, operation="reading", busy_timeout=self.busy_timeout
            ) from exc

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Like :meth:`read`, returning the first row or ``None``."""
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Commit what is queued, then close both connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.notifier.notify_all()
        await self.writer.close()
        await self._reader.close()
        await self._writer_conn.close()


async def _quick_check(conn: aiosqlite.Connection, path: Path) -> None:
    rows = [str(row[0]) for row in await conn.execute_fetchall("PRAGMA quick_check")]
    if rows != ["ok"]:
        raise CorruptDataError(
            "the SQLite database failed its integrity check: " + "; ".join(rows[:3]),
            backend=BACKEND,
            location=str(path),
            hint=_HINT_DAMAGED,
        )


async def _configure(conn: aiosqlite.Connection, synchronous: Synchronous, path: Path) -> None:
    rows = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
    mode = str(rows[0][0]).lower() if rows else ""
    if mode != "wal":
        raise ConfigError(
            f"the database could not be switched to WAL mode (it is in {mode!r} mode)",
            source=str(path),
            hint="keep the database on a local file system (WAL needs shared memory)",
        )
    # PRAGMA takes no parameters; both spellings are fixed strings.
    if synchronous == "full":
        await conn.execute("PRAGMA synchronous = FULL")
    else:
        await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("PRAGMA temp_store = MEMORY")
