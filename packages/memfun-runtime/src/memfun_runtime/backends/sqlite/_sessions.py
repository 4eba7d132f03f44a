"""The T1 session store: a ``sessions`` header row and ``session_turns`` rows per session.

Appends, forks and resumes run in one write transaction each, so concurrent appends from
several processes get consecutive indexes and none is lost. An expired session reads as
absent; a create with its id replaces the leftovers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._writer import Tx
from memfun_runtime.protocols import JSONValue, Session, SessionSnapshot, SessionStore, Turn

__all__ = ["SQLiteSessionStore"]

_HEADER = (
    "SELECT id, metadata, created_at, updated_at, turn_count, ttl, expires_at, parent_id, "
    "forked_at FROM sessions WHERE (expires_at IS NULL OR expires_at > ?)"
)
_TURNS = (
    "SELECT idx, role, content, metadata, created_at FROM session_turns "
    "WHERE session_id = ? AND idx >= ? AND idx < ? ORDER BY idx"
)


def _missing(session_id: str) -> NotFoundError:
    return NotFoundError("session", session_id, hint="it never existed, was deleted or expired")


class SQLiteSessionStore(SessionStore):
    """:class:`~memfun_runtime.protocols.SessionStore` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    # --- decoding --------------------------------------------------------------------------

    def _json(self, text: str, where: str) -> JSONValue:
        return _codec.decode_json(
            text, backend=BACKEND, location=self._handle.location(f"sessions/{where}")
        )

    def _session(self, row: sqlite3.Row) -> Session:
        return Session(
            id=str(row[0]),
            metadata=self._json(row[1], str(row[0])),
            created_at=float(row[2]),
            updated_at=float(row[3]),
            turn_count=int(row[4]),
            ttl=row[5],
            expires_at=row[6],
            parent_id=row[7],
            forked_at=row[8],
        )

    def _turn(self, session_id: str, row: sqlite3.Row) -> Turn:
        where = f"{session_id}/{row[0]}"
        return Turn(
            index=int(row[0]),
            role=str(row[1]),
            content=self._json(row[2], where),
            metadata=self._json(row[3], where),
            created_at=float(row[4]),
        )

    def _live_tx(self, tx: Tx, session_id: str) -> Session | None:
        row = tx.fetchone(_HEADER + " AND id = ?", (tx.now, session_id))
        return None if row is None else self._session(row)

    def _insert(
        self,
        tx: Tx,
        session_id: str,
        metadata: str,
        ttl: float | None,
        *,
        parent: tuple[str, int] | None = None,
    ) -> None:
        if self._live_tx(tx, session_id) is not None:
            raise ConflictError(
                f"a session named {session_id!r} exists",
                hint="pick another id or resume that session",
            )
        tx.execute("DELETE FROM session_turns WHERE session_id = ?", (session_id,))
        tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        tx.execute(
            "INSERT INTO sessions (id, metadata, created_at, updated_at, turn_count, ttl, "
            "expires_at, parent_id, forked_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)",
            (
                session_id,
                metadata,
                tx.now,
                tx.now,
                ttl,
                None if ttl is None else tx.now + ttl,
                None if parent is None else parent[0],
                None if parent is None else parent[1],
            ),
        )

    def _touch(self, tx: Tx, session: Session, turn_count: int) -> Session:
        expires = None if session.ttl is None else tx.now + session.ttl
        tx.execute(
            "UPDATE sessions SET updated_at = ?, expires_at = ?, turn_count = ? WHERE id = ?",
            (tx.now, expires, turn_count, session.id),
        )
        row = tx.fetchone(_HEADER + " AND id = ?", (tx.now, session.id))
        assert row is not None
        return self._session(row)

    # --- the protocol ----------------------------------------------------------------------

    async def create(
        self,
        *,
        session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create an empty session (id generated when ``None``)."""
        sid = _codec.new_id() if session_id is None else session_id
        _codec.check_name(sid, field="session_id")
        text = _codec.check_metadata(metadata)
        seconds = _codec.check_ttl(ttl)

        def job(tx: Tx) -> Session:
            self._insert(tx, sid, text, seconds)
            created = self._live_tx(tx, sid)
            assert created is not None
            return created

        return await self._handle.db.writer.transaction(job)

    async def get(self, session_id: str) -> Session | None:
        """Return the session's header, or ``None`` when absent or expired."""
        _codec.check_name(session_id, field="session_id")
        row = await self._handle.db.read_one(_HEADER + " AND id = ?", (time.time(), session_id))
        return None if row is None else self._session(row)

    async def append(
        self,
        session_id: str,
        role: str,
        content: JSONValue,
        *,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> Turn:
        """Append one turn and return it; refreshes the session's TTL."""
        _codec.check_name(session_id, field="session_id")
        if not isinstance(role, str) or not role:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a non-empty str, got {role!r}", field="role", rule="a non-empty str"
            )
        text = _codec.encode_json(content, field="content")
        meta = _codec.check_metadata(metadata)

        def job(tx: Tx) -> Turn:
            session = self._live_tx(tx, session_id)
            if session is None:
                raise _missing(session_id)
            index = session.turn_count
            tx.execute(
                "INSERT INTO session_turns (session_id, idx, role, content, metadata, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, index, role, text, meta, tx.now),
            )
            self._touch(tx, session, index + 1)
            return Turn(
                index=index,
                role=role,
                content=self._json(text, f"{session_id}/{index}"),
                metadata=self._json(meta, f"{session_id}/{index}"),
                created_at=tx.now,
            )

        return await self._handle.db.writer.transaction(job)

    async def read(
        self,
        session_id: str,
        *,
        last: int | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> list[Turn]:
        """Return turns in order: the ``last`` N, or the index range ``[start, end)``."""
        session = await self.get(session_id)
        if session is None:
            raise _missing(session_id)
        window = _codec.turn_window(session.turn_count, last=last, start=start, end=end)
        rows = await self._handle.db.read(_TURNS, (session_id, window.start, window.stop))
        return [self._turn(session_id, row) for row in rows]

    async def list(self, *, limit: int = 100) -> list[Session]:
        """Return up to ``limit`` live sessions, most recently active first."""
        _codec.check_int(limit, field="limit", minimum=0)
        rows = await self._handle.db.read(
            _HEADER + " ORDER BY updated_at DESC LIMIT ?", (time.time(), limit)
        )
        return [self._session(row) for row in rows]

    async def fork(
        self,
        session_id: str,
        *,
        upto: int | None = None,
        new_session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create a new session holding copies of turns ``[0, upto)`` (all when ``None``)."""
        _codec.check_name(session_id, field="session_id")
        child = _codec.new_id() if new_session_id is None else new_session_id
        _codec.check_name(child, field="new_session_id")
        if upto is not None:
            _codec.check_int(upto, field="upto", minimum=0)
        text = None if metadata is None else _codec.check_metadata(metadata)
        seconds = None if ttl is None else _codec.check_ttl(ttl)

        def job(tx: Tx) -> Session:
            parent = self._live_tx(tx, session_id)
            if parent is None:
                raise _missing(session_id)
            count = parent.turn_count
            cut = count if upto is None else upto
            if cut > count:
                raise ValidationError(
                    f"is {cut} but the session has {count} turns",
                    field="upto",
                    rule="0 <= upto <= turn count",
                )
            meta = text if text is not None else _codec.encode_json(dict(parent.metadata))
            life = seconds if seconds is not None else parent.ttl
            self._insert(tx, child, meta, life, parent=(session_id, cut))
            tx.execute(
                "INSERT INTO session_turns (session_id, idx, role, content, metadata, "
                "created_at) SELECT ?, idx, role, content, metadata, created_at "
                "FROM session_turns WHERE session_id = ? AND idx < ?",
                (child, session_id, cut),
            )
            created = self._live_tx(tx, child)
            assert created is not None
            return self._touch(tx, created, cut)

        return await self._handle.db.writer.transaction(job)

    async def resume(self, session_id: str, *, last: int | None = None) -> SessionSnapshot:
        """Return the session and its turns (the ``last`` N when given); refresh its TTL."""
        _codec.check_name(session_id, field="session_id")

        def job(tx: Tx) -> SessionSnapshot:
            session = self._live_tx(tx, session_id)
            if session is None:
                raise _missing(session_id)
            window = _codec.turn_window(session.turn_count, last=last, start=0, end=None)
            touched = self._touch(tx, session, session.turn_count)
            rows = tx.fetchall(_TURNS, (session_id, window.start, window.stop))
            return SessionSnapshot(
                session=touched, turns=tuple(self._turn(session_id, row) for row in rows)
            )

        return await self._handle.db.writer.transaction(job)

    async def delete(self, session_id: str) -> bool:
        """Remove the session and its turns; return whether a live one existed."""
        _codec.check_name(session_id, field="session_id")

        def job(tx: Tx) -> bool:
            live = self._live_tx(tx, session_id) is not None
            tx.execute("DELETE FROM session_turns WHERE session_id = ?", (session_id,))
            tx.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return live

        return await self._handle.db.writer.transaction(job)
