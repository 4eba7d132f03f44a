"""The T1 session store: a ``sessions`` header row and ``session_turns`` rows per session.

Appends, forks and resumes run in one write transaction each, so concurrent appends from
several processes get consecutive indexes and none is lost. An expired session reads as
absent; a create with its id replaces the leftovers.
"""

from __future__ import annotations

import sqlite3
import time

from memfun_runtime.backends._sessions_base import Fork, SessionStoreBase, missing, taken
from memfun_runtime.backends.sqlite._database import Handle
from memfun_runtime.backends.sqlite._writer import Tx
from memfun_runtime.protocols import Session, Turn

__all__ = ["SQLiteSessionStore"]

_Parent = tuple[str, int] | None
"""A fork's parent id and cut."""

_COLUMNS = "id, metadata, created_at, updated_at, turn_count, ttl, expires_at, parent_id, forked_at"
_HEADER = f"SELECT {_COLUMNS} FROM sessions WHERE (expires_at IS NULL OR expires_at > ?)"  # noqa: S608 - constants
_CREATE = (
    "INSERT OR REPLACE INTO sessions (id, metadata, created_at, updated_at, turn_count, ttl, "  # noqa: S608 - constants
    f"expires_at, parent_id, forked_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?) RETURNING {_COLUMNS}"
)
_TOUCH = (
    "UPDATE sessions SET updated_at = ?, expires_at = ?, turn_count = ? WHERE id = ? "  # noqa: S608 - constants
    f"RETURNING {_COLUMNS}"
)
_TURNS = (
    "SELECT idx, role, content, metadata, created_at FROM session_turns "
    "WHERE session_id = ? AND idx >= ? AND idx < ? ORDER BY idx"
)


class SQLiteSessionStore(SessionStoreBase[Session]):
    """:class:`~memfun_runtime.protocols.SessionStore` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _session(self, row: sqlite3.Row) -> Session:
        return Session(
            id=str(row[0]),
            metadata=self._handle.decode(row[1], f"sessions/{row[0]}"),
            created_at=float(row[2]),
            updated_at=float(row[3]),
            turn_count=int(row[4]),
            ttl=row[5],
            expires_at=row[6],
            parent_id=row[7],
            forked_at=row[8],
        )

    def _live_tx(self, tx: Tx, session_id: str) -> Session | None:
        row = tx.fetchone(_HEADER + " AND id = ?", (tx.now, session_id))
        return None if row is None else self._session(row)

    def _insert(
        self, tx: Tx, session_id: str, metadata: str, ttl: float | None, parent: _Parent = None
    ) -> Session | None:
        """Insert an empty session (replacing an expired one); ``None`` when a live one exists."""
        if self._live_tx(tx, session_id) is not None:
            return None
        tx.execute("DELETE FROM session_turns WHERE session_id = ?", (session_id,))
        expires = None if ttl is None else tx.now + ttl
        parent_id, forked_at = (None, None) if parent is None else parent
        values = (session_id, metadata, tx.now, tx.now, ttl, expires, parent_id, forked_at)
        return self._session(tx.fetchall(_CREATE, values)[0])

    def _touch(self, tx: Tx, session: Session, turn_count: int) -> Session:
        expires = None if session.ttl is None else tx.now + session.ttl
        return self._session(tx.fetchall(_TOUCH, (tx.now, expires, turn_count, session.id))[0])

    # --- the hooks --------------------------------------------------------------------------

    def _header(self, found: Session) -> Session:
        return found

    async def _find(self, session_id: str) -> Session | None:
        row = await self._handle.db.read_one(_HEADER + " AND id = ?", (time.time(), session_id))
        return None if row is None else self._session(row)

    async def _turns(self, found: Session, window: range) -> list[Turn]:
        rows = await self._handle.db.read(_TURNS, (found.id, window.start, window.stop))
        return [
            Turn(
                index=int(row[0]),
                role=str(row[1]),
                content=self._handle.decode(row[2], f"sessions/{found.id}/{row[0]}"),
                metadata=self._handle.decode(row[3], f"sessions/{found.id}/{row[0]}"),
                created_at=float(row[4]),
            )
            for row in rows
        ]

    async def _create(self, session_id: str, metadata: str, ttl: float | None) -> Session | None:
        return await self._handle.db.writer.transaction(
            lambda tx: self._insert(tx, session_id, metadata, ttl)
        )

    async def _append(
        self, session_id: str, role: str, content: str, metadata: str
    ) -> tuple[int, float] | None:
        def job(tx: Tx) -> tuple[int, float] | None:
            session = self._live_tx(tx, session_id)
            if session is None:
                return None
            index = session.turn_count
            tx.execute(
                "INSERT INTO session_turns (session_id, idx, role, content, metadata, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, index, role, content, metadata, tx.now),
            )
            self._touch(tx, session, index + 1)
            return index, tx.now

        return await self._handle.db.writer.transaction(job)

    async def _list(self, limit: int) -> list[Session]:
        rows = await self._handle.db.read(
            _HEADER + " ORDER BY updated_at DESC LIMIT ?", (time.time(), limit)
        )
        return [self._session(row) for row in rows]

    async def _fork(self, fork: Fork) -> Session:
        def job(tx: Tx) -> Session:
            parent = self._live_tx(tx, fork.parent)
            if parent is None:
                raise missing(fork.parent)
            cut, meta, life = fork.of(parent)
            created = self._insert(tx, fork.child, meta, life, (fork.parent, cut))
            if created is None:
                raise taken(fork.child)
            tx.execute(
                "INSERT INTO session_turns (session_id, idx, role, content, metadata, "
                "created_at) SELECT ?, idx, role, content, metadata, created_at "
                "FROM session_turns WHERE session_id = ? AND idx < ?",
                (fork.child, fork.parent, cut),
            )
            return self._touch(tx, created, cut)

        return await self._handle.db.writer.transaction(job)

    async def _resume(self, session_id: str) -> Session | None:
        def job(tx: Tx) -> Session | None:
            session = self._live_tx(tx, session_id)
            return None if session is None else self._touch(tx, session, session.turn_count)

        return await self._handle.db.writer.transaction(job)

    async def _delete(self, session_id: str) -> bool:
        def job(tx: Tx) -> bool:
            live = self._live_tx(tx, session_id) is not None
            tx.execute("DELETE FROM session_turns WHERE session_id = ?", (session_id,))
            tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return live

        return await self._handle.db.writer.transaction(job)
