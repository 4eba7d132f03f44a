"""Opening, checking and closing the one SQLite file of a T1 backend, and the services' handle.

The file is in WAL mode; ``SQLiteBackend`` says what each ``synchronous`` setting survives.
"""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from memfun_core.errors import BackendUnavailable, ConfigError, CorruptDataError, MemfunError
from memfun_runtime import _codec
from memfun_runtime.backends._services import not_started
from memfun_runtime.backends.sqlite._errors import BACKEND, HINT_DAMAGED, map_sqlite_error
from memfun_runtime.backends.sqlite._ownership import Ownership, check_owner, stamp_statement
from memfun_runtime.backends.sqlite._schema import check_schema, ensure_schema
from memfun_runtime.backends.sqlite._writer import Writer

__all__ = ["Database", "Handle", "Synchronous", "check_file"]

Synchronous = Literal["normal", "full"]
"""``PRAGMA synchronous`` in WAL mode: ``normal`` survives process crashes, ``full`` also
power loss."""

_HEADER = b"SQLite format 3\x00"


def check_file(path: Path) -> bool:
    """Refuse, before SQLite touches it, a path that cannot hold a usable database.

    Returns whether the file holds data (a missing one is not created, its directory is).

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
        return False
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
    if header and not header.startswith(_HEADER):
        raise CorruptDataError(
            "the file is not a SQLite database (wrong header)",
            backend=BACKEND,
            location=str(path),
            hint=HINT_DAMAGED,
        )
    return bool(header)


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
        closed: Whether :meth:`close` was called.
    """

    def __init__(
        self,
        path: Path,
        writer_conn: aiosqlite.Connection,
        reader_conn: aiosqlite.Connection,
        busy_timeout: float,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.closed = False
        self._writer_conn = writer_conn
        self._reader = reader_conn
        self.writer = Writer(writer_conn, self._error)
        self.notifier = self.writer.notifier

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous,
        busy_timeout: float,
        verify: bool,
        ownership: Ownership | None = None,
    ) -> Database:
        """Open (creating or migrating) the database at ``path`` and start its writer.

        ``verify`` runs ``PRAGMA quick_check`` on an existing file (reads the whole file).
        With ``ownership``, an existing file must carry its stamp (or be adopted), before
        anything is written; a new or adopted file is stamped.

        Raises:
            CorruptDataError: The file is unreadable, not a SQLite database, or damaged.
            ConfigError: A newer schema or another application's database.
            PermissionDeniedError: ``ownership`` refuses the file.
            BackendUnavailable: The file cannot be opened or written.
        """
        existed = check_file(path)
        stamped = ownership is None
        conns: list[aiosqlite.Connection] = []
        try:
            writer = await _connect(path, busy_timeout)
            conns.append(writer)
            await _check_library(writer)
            if existed:
                if verify:
                    await _quick_check(writer, path)
                version = await check_schema(writer, path)  # before WAL mode changes it
                if ownership is not None and version is not None:
                    stamped = await check_owner(writer, ownership, path)
            await _configure(writer, synchronous, path)
            # A new file is stamped in the transaction that creates it, so a process opening
            # it at the same time never sees it without the stamp; an adopted one after.
            stamp = None if stamped or ownership is None else stamp_statement(ownership)
            if not await ensure_schema(writer, path, on_create=stamp) and stamp is not None:
                await writer.execute(*stamp)
            reader = await _connect(path, busy_timeout)
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
        database = cls(path, writer, reader, busy_timeout)
        database.writer.start(f"memfun-sqlite-writer:{path}")
        return database

    def _error(self, exc: sqlite3.Error, operation: str) -> MemfunError:
        return map_sqlite_error(
            exc, path=self.path, operation=operation, busy_timeout=self.busy_timeout
        )

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query on the reader connection and return every row."""
        if self.closed:
            raise not_started("SQLite")
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Like :meth:`read`, returning the first row or ``None``."""
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Commit what is queued, then close both connections (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.notifier.notify_all()
        await self.writer.close()
        await self._reader.close()
        await self._writer_conn.close()


@dataclass(slots=True)
class Handle:
    """The started-guard every T1 service holds: the backend's open database and settings.

    Attributes:
        poll_interval: Seconds between checks for work written by other processes.
        database: Set by ``start()``, cleared by ``stop()``.
    """

    poll_interval: float
    database: Database | None = None

    @property
    def db(self) -> Database:
        """The open database; :class:`ConflictError` when the backend is not started."""
        database = self.database
        if database is None or database.closed:
            raise not_started("SQLite")
        return database

    def location(self, what: str) -> str:
        """A location string for error messages: ``<file>:<what>``."""
        database = self.database
        return f"{database.path if database else '<sqlite>'}:{what}"

    def decode(self, text: str, what: str) -> Any:
        """Decode stored JSON; :class:`CorruptDataError` names ``<file>:<what>`` when damaged."""
        return _codec.decode_json(text, backend=BACKEND, location=self.location(what))


async def _connect(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    """A connection in autocommit mode (the writer opens its own transactions)."""
    conn = aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout)
    try:
        return await conn
    except sqlite3.Error:
        # A failed connect stops aiosqlite's thread, which then reports to the event loop;
        # wait for it, or a program that exits at once has it report to a closed loop (a
        # "RuntimeError: Event loop is closed" traceback after the error). ``_thread`` is
        # private: aiosqlite is pinned below 0.23 (see ``_writer._run_on_thread``).
        await asyncio.to_thread(conn._thread.join, busy_timeout)  # pyright: ignore[reportPrivateUsage]
        raise


MIN_SQLITE = (3, 35, 0)
"""The oldest SQLite T1 runs on: ``RETURNING`` came in 3.35. It also needs the JSON
functions, built in from 3.38 and compiled in by most builds of earlier versions."""


async def _check_library(conn: aiosqlite.Connection) -> None:
    """Refuse, before touching the file, a SQLite library that lacks what T1's SQL uses."""
    json = True
    try:
        await conn.execute_fetchall("SELECT count(*) FROM json_each('[1]')")
    except sqlite3.OperationalError:  # "no such table: json_each"
        json = False
    missing = [
        what
        for what, present in (
            ("RETURNING (SQLite 3.35)", sqlite3.sqlite_version_info >= MIN_SQLITE),
            ("the JSON functions", json),
        )
        if not present
    ]
    if missing:
        raise ConfigError(
            f"this Python's SQLite library ({sqlite3.sqlite_version}) lacks "
            f"{' and '.join(missing)}, which the sqlite tier needs",
            hint="use a Python whose sqlite3 module links SQLite 3.35 or newer with JSON "
            "(python.org's and uv's Pythons do), or another tier",
        )


async def _quick_check(conn: aiosqlite.Connection, path: Path) -> None:
    rows = [str(row[0]) for row in await conn.execute_fetchall("PRAGMA quick_check")]
    if rows != ["ok"]:
        raise CorruptDataError(
            "the SQLite database failed its integrity check: " + "; ".join(rows[:3]),
            backend=BACKEND,
            location=str(path),
            hint=HINT_DAMAGED,
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
    # PRAGMA takes no parameters; the backend checked the value is one of two names.
    await conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    await conn.execute("PRAGMA temp_store = MEMORY")
