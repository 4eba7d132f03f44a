"""The session store contract: conversations as append-only turn lists with TTL and forks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = ["Session", "SessionSnapshot", "SessionStore", "Turn"]


@dataclass(frozen=True, slots=True)
class Session:
    """A session's header (without its turns).

    Attributes:
        id: Session id (topic-grammar token string).
        metadata: JSON-serializable metadata given at creation.
        created_at: Unix time of creation.
        updated_at: Unix time of the last activity (create, append or resume).
        turn_count: Number of turns.
        ttl: Seconds of inactivity after which the session expires, or ``None``.
        expires_at: ``updated_at + ttl``, or ``None``.
        parent_id: The session it was forked from, if any.
        forked_at: How many of the parent's turns were copied, if forked.
    """

    id: str
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    created_at: float = 0.0
    updated_at: float = 0.0
    turn_count: int = 0
    ttl: float | None = None
    expires_at: float | None = None
    parent_id: str | None = None
    forked_at: int | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a session.

    Attributes:
        index: 0-based position in the session.
        role: Who spoke (``"user"``, ``"assistant"``, ``"tool"``, ...): a non-empty string.
        content: The JSON content.
        metadata: JSON-serializable metadata.
        created_at: Unix time of the append.
    """

    index: int
    role: str
    content: JSONValue
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session with (a window of) its turns, as returned by :meth:`SessionStore.resume`."""

    session: Session
    turns: tuple[Turn, ...]


@runtime_checkable
class SessionStore(Protocol):
    """Sessions: ordered turns, windowed reads, forks and expiry after inactivity.

    Guarantees (every tier):

    * **Order.** Turns of one session have consecutive indexes 0..n-1 in append order;
      concurrent appends to one session are serialized, none is lost.
    * **Expiry.** A session with a ``ttl`` expires ``ttl`` seconds after its last activity
      (create, append, resume); an expired session behaves as absent everywhere.
      :meth:`get`, :meth:`read` and :meth:`list` do not count as activity.
    * **Forks** copy turns; later appends to either session do not affect the other.
    * **Durability** as the tier (T0 memory only).

    A missing or expired session raises :class:`~memfun_core.errors.NotFoundError` (kind
    ``"session"``) from every method except :meth:`get` and :meth:`delete`.
    """

    async def create(
        self,
        *,
        session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create an empty session (id generated when ``None``).

        Raises:
            ConflictError: A live session with this id exists.
            ValidationError: A bad id, metadata or ttl.
        """
        ...

    async def get(self, session_id: str) -> Session | None:
        """Return the session's header, or ``None`` when absent or expired."""
        ...

    async def append(
        self,
        session_id: str,
        role: str,
        content: JSONValue,
        *,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> Turn:
        """Append one turn and return it (with its index); refreshes the session's TTL."""
        ...

    async def read(
        self,
        session_id: str,
        *,
        last: int | None = None,
        start: int = 0,
        end: int | None = None,
    ) -> list[Turn]:
        """Return turns in order: the ``last`` N, or the index range ``[start, end)``.

        Raises:
            ValidationError: ``last`` together with ``start``/``end``, or negative bounds.
        """
        ...

    async def list(self, *, limit: int = 100) -> list[Session]:
        """Return up to ``limit`` live sessions, most recently active first."""
        ...

    async def fork(
        self,
        session_id: str,
        *,
        upto: int | None = None,
        new_session_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float | None = None,
    ) -> Session:
        """Create a new session holding copies of turns ``[0, upto)`` (all when ``None``).

        The fork records ``parent_id`` and ``forked_at``; its metadata defaults to the
        parent's and its ttl to the parent's.

        Raises:
            NotFoundError: The parent is absent or expired.
            ConflictError: ``new_session_id`` is taken.
            ValidationError: ``upto`` is negative or beyond the parent's turn count.
        """
        ...

    async def resume(self, session_id: str, *, last: int | None = None) -> SessionSnapshot:
        """Return the session and its turns (the ``last`` N when given) and refresh its TTL."""
        ...

    async def delete(self, session_id: str) -> bool:
        """Remove the session and its turns; return whether a live one existed."""
        ...
