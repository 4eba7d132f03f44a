"""The in-memory session store: turn lists with windowed reads, forks and inactivity expiry."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from memfun_runtime import _codec
from memfun_runtime.backends._sessions_base import Fork, SessionStoreBase, taken
from memfun_runtime.backends.memory._common import TIER, Gate, now
from memfun_runtime.protocols import Session, Turn

__all__ = ["MemorySessionStore"]


_StoredTurn = tuple[str, str, str, float]
"""role, content JSON, metadata JSON, created_at."""


@dataclass(slots=True)
class _Rec:
    header: Session
    turns: list[_StoredTurn] = field(default_factory=list[_StoredTurn])

    def touch(self, stamp: float) -> None:
        ttl = self.header.ttl
        self.header = dataclasses.replace(
            self.header,
            updated_at=stamp,
            turn_count=len(self.turns),
            expires_at=None if ttl is None else stamp + ttl,
        )


class MemorySessionStore(SessionStoreBase[_Rec]):
    """:class:`~memfun_runtime.protocols.SessionStore` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._sessions: dict[str, _Rec] = {}

    def _header(self, found: _Rec) -> Session:
        return found.header

    async def _find(self, session_id: str) -> _Rec | None:
        self._gate.check()
        rec = self._sessions.get(session_id)
        if rec is not None and rec.header.expires_at is not None and rec.header.expires_at <= now():
            del self._sessions[session_id]
            return None
        return rec

    async def _turns(self, found: _Rec, window: range) -> list[Turn]:
        turns: list[Turn] = []
        for index in window:
            role, content, metadata, stamp = found.turns[index]
            where = f"{found.header.id}/{index}"
            value = _codec.decode_json(content, backend=TIER, location=where)
            meta = _codec.decode_json(metadata, backend=TIER, location=where)
            turns.append(Turn(index, role, value, meta, stamp))
        return turns

    async def _create(self, session_id: str, metadata: str, ttl: float | None) -> Session | None:
        if await self._find(session_id) is not None:
            return None
        stamp = now()
        header = Session(
            id=session_id,
            metadata=_codec.decode_json(metadata, backend=TIER, location=session_id),
            created_at=stamp,
            updated_at=stamp,
            ttl=ttl,
            expires_at=None if ttl is None else stamp + ttl,
        )
        self._sessions[session_id] = _Rec(header)
        return header

    async def _append(
        self, session_id: str, role: str, content: str, metadata: str
    ) -> tuple[int, float] | None:
        rec = await self._find(session_id)
        if rec is None:
            return None
        stamp = now()
        rec.turns.append((role, content, metadata, stamp))
        rec.touch(stamp)
        return len(rec.turns) - 1, stamp

    async def _list(self, limit: int) -> list[Session]:  # noqa: ARG002 - the base sorts and cuts
        self._gate.check()
        return [r.header for sid in list(self._sessions) if (r := await self._find(sid))]

    async def _fork(self, fork: Fork) -> Session:
        parent = await self._require(fork.parent)
        cut, meta, life = fork.of(parent.header)
        if await self._create(fork.child, meta, life) is None:
            raise taken(fork.child)
        rec = self._sessions[fork.child]
        rec.header = dataclasses.replace(rec.header, parent_id=fork.parent, forked_at=cut)
        rec.turns = parent.turns[:cut]
        rec.touch(rec.header.created_at)
        return rec.header

    async def _resume(self, session_id: str) -> _Rec | None:
        rec = await self._find(session_id)
        if rec is not None:
            rec.touch(now())
        return rec

    async def _delete(self, session_id: str) -> bool:
        live = await self._find(session_id) is not None
        self._sessions.pop(session_id, None)
        return live
