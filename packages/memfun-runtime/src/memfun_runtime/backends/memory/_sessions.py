"""The in-memory session store: turn lists with windowed reads, forks and inactivity expiry."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.memory._common import TIER, Gate, now
from memfun_runtime.protocols import JSONValue, Session, SessionSnapshot, SessionStore, Turn

__all__ = ["MemorySessionStore"]


@dataclass(slots=True)
class _StoredTurn:
    role: str
    content: str
    metadata: str
    created_at: float


@dataclass(slots=True)
class _Rec:
    header: Session
    turns: list[_StoredTurn] = field(default_factory=list[_StoredTurn])


class MemorySessionStore(SessionStore):
    """:class:`~memfun_runtime.protocols.SessionStore` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._sessions: dict[str, _Rec] = {}

    def _live(self, session_id: str) -> _Rec | None:
        _codec.check_name(session_id, field="session_id")
        rec = self._sessions.get(session_id)
        if rec is not None and rec.header.expires_at is not None and rec.header.expires_at <= now():
            del self._sessions[session_id]
            return None
        return rec

    def _require(self, session_id: str) -> _Rec:
        rec = self._live(session_id)
        if rec is None:
            raise NotFoundError(
                "session", session_id, hint="it never existed, was deleted or expired"
            )
        return rec

    @staticmethod
    def _touch(rec: _Rec, stamp: float) -> None:
        ttl = rec.header.ttl
        rec.header = dataclasses.replace(
            rec.header,
            updated_at=stamp,
            turn_count=len(rec.turns),
            expires_at=None if ttl is None else stamp + ttl,
        )

    def _turn(self, session_id: str, index: int, stored: _StoredTurn) -> Turn:
        where = f"{session_id}/{index}"
        return Turn(
            index=index,
            role=stored.role,
            content=_codec.decode_json(stored.content, backend=TIER, location=where),
            metadata=_codec.decode_json(stored.metadata, backend=TIER, location=where),
            created_at=stored.created_at,
        )

    def _new(
        self,
        session_id: str | None,
        metadata_text: str,
        ttl: float | None,
        *,
        parent_id: str | None = None,
        forked_at: int | None = None,
    ) -> _Rec:
        sid = _codec.new_id() if session_id is None else session_id
        if self._live(sid) is not None:
            raise ConflictError(
                f"a session named {sid!r} exists", hint="pick another id or resume that session"
            )
        stamp = now()
        header = Session(
            id=sid,
            metadata=_codec.decode_json(metadata_text, backend=TIER, location=sid),
            created_at=stamp,
            updated_at=stamp,
            ttl=ttl,
            expires_at=None if ttl is None else stamp + ttl,
            parent_id=parent_id,
            forked_at=forked_at,
        )
        rec = self._sessions[sid] = _Rec(header)
        return rec

    async def create(
        self,
        *,
        session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create an empty session."""
        self._gate.check()
        text = _codec.check_metadata(metadata)
        return self._new(session_id, text, _codec.check_ttl(ttl)).header

    async def get(self, session_id: str) -> Session | None:
        """Return the session's header, or ``None``."""
        self._gate.check()
        rec = self._live(session_id)
        return None if rec is None else rec.header

    async def append(
        self,
        session_id: str,
        role: str,
        content: JSONValue,
        *,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> Turn:
        """Append one turn and refresh the session's TTL."""
        self._gate.check()
        if not isinstance(role, str) or not role:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a non-empty str, got {role!r}", field="role", rule="a non-empty str"
            )
        text = _codec.encode_json(content, field="content")
        meta = _codec.check_metadata(metadata)
        rec = self._require(session_id)
        stamp = now()
        rec.turns.append(_StoredTurn(role, text, meta, stamp))
        self._touch(rec, stamp)
        index = len(rec.turns) - 1
        return self._turn(session_id, index, rec.turns[index])

    async def read(
        self,
        session_id: str,
        *,
        last: int | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> list[Turn]:
        """Return the ``last`` N turns or the range ``[start, end)``."""
        self._gate.check()
        rec = self._require(session_id)
        window = _codec.turn_window(len(rec.turns), last=last, start=start, end=end)
        return [self._turn(session_id, i, rec.turns[i]) for i in window]

    async def list(self, *, limit: int = 100) -> list[Session]:
        """Return up to ``limit`` live sessions, most recently active first."""
        self._gate.check()
        _codec.check_int(limit, field="limit", minimum=0)
        live = [r.header for sid in list(self._sessions) if (r := self._live(sid)) is not None]
        live.sort(key=lambda s: s.updated_at, reverse=True)
        return live[:limit]

    async def fork(
        self,
        session_id: str,
        *,
        upto: int | None = None,
        new_session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Copy turns ``[0, upto)`` of a session into a new one."""
        self._gate.check()
        parent = self._require(session_id)
        count = len(parent.turns)
        cut = count if upto is None else _codec.check_int(upto, field="upto", minimum=0)
        if cut > count:
            raise ValidationError(
                f"is {cut} but the session has {count} turns",
                field="upto",
                rule="0 <= upto <= turn count",
            )
        text = (
            _codec.check_metadata(metadata)
            if metadata is not None
            else _codec.encode_json(dict(parent.header.metadata), field="metadata")
        )
        seconds = _codec.check_ttl(ttl) if ttl is not None else parent.header.ttl
        child = self._new(new_session_id, text, seconds, parent_id=session_id, forked_at=cut)
        child.turns = [dataclasses.replace(t) for t in parent.turns[:cut]]
        self._touch(child, child.header.created_at)
        return child.header

    async def resume(self, session_id: str, *, last: int | None = None) -> SessionSnapshot:
        """Return the session and its turns, and refresh its TTL."""
        self._gate.check()
        rec = self._require(session_id)
        self._touch(rec, now())
        window = _codec.turn_window(len(rec.turns), last=last, start=0, end=None)
        turns = tuple(self._turn(session_id, i, rec.turns[i]) for i in window)
        return SessionSnapshot(session=rec.header, turns=turns)

    async def delete(self, session_id: str) -> bool:
        """Remove the session; return whether a live one existed."""
        self._gate.check()
        rec = self._live(session_id)
        if rec is None:
            return False
        del self._sessions[session_id]
        return True
