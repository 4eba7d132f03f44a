"""What every tier's session store shares: the argument checks, windows and errors.

Each public method checks its arguments (so all tiers accept and refuse the same input),
calls the tier's hook, which only talks to its store, and builds the answer.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.protocols import JSONValue, Session, SessionSnapshot, SessionStore, Turn

__all__ = ["Fork", "SessionStoreBase", "fork_cut", "missing", "taken"]

H = TypeVar("H")
"""What a tier reads of a live session: its header and whatever it needs to find the turns."""


class SessionStoreBase(SessionStore, Generic[H]):
    """Base of the in-tree session stores: checks the arguments, then calls the tier's hooks.

    Metadata and content reach the hooks as JSON text; ids, ttls and limits checked.
    """

    async def create(
        self,
        *,
        session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create an empty session (id generated when ``None``)."""
        sid = _codec.check_id(session_id, field="session_id")
        created = await self._create(sid, _codec.check_metadata(metadata), _codec.check_ttl(ttl))
        if created is None:
            raise taken(sid)
        return created

    async def get(self, session_id: str) -> Session | None:
        """Return the session's header, or ``None`` when absent or expired."""
        found = await self._find(_codec.check_name(session_id, field="session_id"))
        return None if found is None else self._header(found)

    async def append(
        self,
        session_id: str,
        role: str,
        content: JSONValue,
        *,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> Turn:
        """Append one turn and return it (with its index); refreshes the session's TTL."""
        _codec.check_name(session_id, field="session_id")
        if not isinstance(role, str) or not role:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a non-empty str, got {role!r}", field="role", rule="a non-empty str"
            )
        text = _codec.encode_json(content, field="content")
        meta = _codec.check_metadata(metadata)
        appended = await self._append(session_id, role, text, meta)
        if appended is None:
            raise missing(session_id)
        index, stamp = appended
        return Turn(index, role, _codec.parse_json(text), _codec.parse_json(meta), stamp)

    async def read(
        self,
        session_id: str,
        *,
        last: int | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> builtins.list[Turn]:
        """Return turns in order: the ``last`` N, or the index range ``[start, end)``."""
        found = await self._require(_codec.check_name(session_id, field="session_id"))
        count = self._header(found).turn_count
        return await self._turns(found, _codec.turn_window(count, last=last, start=start, end=end))

    async def list(self, *, limit: int = 100) -> builtins.list[Session]:
        """Return up to ``limit`` live sessions, most recently active first."""
        found = await self._list(_codec.check_int(limit, field="limit", minimum=0))
        found.sort(key=lambda s: s.updated_at, reverse=True)
        return found[:limit]

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
        if upto is not None:
            _codec.check_int(upto, field="upto", minimum=0)
        child = _codec.check_id(new_session_id, field="new_session_id")
        meta = None if metadata is None else _codec.check_metadata(metadata)
        return await self._fork(Fork(session_id, child, upto, meta, _codec.check_ttl(ttl)))

    async def resume(self, session_id: str, *, last: int | None = None) -> SessionSnapshot:
        """Return the session and its turns (the ``last`` N when given); refresh its TTL."""
        _codec.check_name(session_id, field="session_id")
        if last is not None:
            _codec.check_int(last, field="last", minimum=0)
        found = await self._resume(session_id)
        if found is None:
            raise missing(session_id)
        session = self._header(found)
        window = _codec.turn_window(session.turn_count, last=last, start=0, end=None)
        return SessionSnapshot(session, tuple(await self._turns(found, window)))

    async def delete(self, session_id: str) -> bool:
        """Remove the session and its turns; return whether a live one existed."""
        return await self._delete(_codec.check_name(session_id, field="session_id"))

    async def _require(self, session_id: str) -> H:
        found = await self._find(session_id)
        if found is None:
            raise missing(session_id)
        return found

    # --- the tier's hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _header(self, found: H) -> Session: ...

    @abc.abstractmethod
    async def _find(self, session_id: str) -> H | None:
        """The live session, or ``None``."""

    @abc.abstractmethod
    async def _turns(self, found: H, window: range) -> builtins.list[Turn]: ...

    @abc.abstractmethod
    async def _create(self, session_id: str, metadata: str, ttl: float | None) -> Session | None:
        """Create the session, or return ``None`` when a live one has this id."""

    @abc.abstractmethod
    async def _append(
        self, session_id: str, role: str, content: str, metadata: str
    ) -> tuple[int, float] | None:
        """Append a turn and refresh the ttl; its ``(index, created_at)``, ``None``: missing."""

    @abc.abstractmethod
    async def _list(self, limit: int) -> builtins.list[Session]:
        """The live sessions: at least the ``limit`` most recently active, in any order."""

    @abc.abstractmethod
    async def _fork(self, fork: Fork) -> Session:
        """Fork; raise :func:`missing`, :func:`taken` or :func:`fork_cut`'s error."""

    @abc.abstractmethod
    async def _resume(self, session_id: str) -> H | None:
        """Refresh the live session's ttl and return it, or ``None``."""

    @abc.abstractmethod
    async def _delete(self, session_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Fork:
    """A checked fork: ``None`` takes the parent's turn count, metadata and ttl."""

    parent: str
    child: str
    upto: int | None
    metadata: str | None
    ttl: float | None

    def of(self, parent: Session) -> tuple[int, str, float | None]:
        """The turns to copy, the metadata text and the ttl of a fork of ``parent``.

        Raises:
            ValidationError: ``upto`` is beyond the parent's turn count.
        """
        cut = fork_cut(self.upto, parent.turn_count)
        meta = self.metadata or _codec.encode_json(dict(parent.metadata), field="metadata")
        return cut, meta, parent.ttl if self.ttl is None else self.ttl


def missing(session_id: str) -> NotFoundError:
    """The error of a session that is absent or expired."""
    return NotFoundError("session", session_id, hint="it never existed, was deleted or expired")


def taken(session_id: str) -> ConflictError:
    """The error of a create or fork whose id a live session has."""
    return ConflictError(
        f"a session named {session_id!r} exists", hint="pick another id or resume that session"
    )


def fork_cut(upto: int | None, count: int) -> int:
    """How many of the parent's ``count`` turns a fork copies.

    Raises:
        ValidationError: ``upto`` is beyond ``count``.
    """
    if upto is None:
        return count
    if upto > count:
        raise ValidationError(
            f"is {upto} but the session has {count} turns",
            field="upto",
            rule="0 <= upto <= turn count",
        )
    return upto
