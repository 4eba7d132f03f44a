"""What a migration reads from its source: the read side of each service.

A started :class:`~memfun_runtime._backend.Backend` of any tier is one; so is a snapshot
file read back (:mod:`._snapshot`), which makes an import a migration like any other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from memfun_runtime.protocols import (
    AgentInstance,
    Entry,
    Event,
    Session,
    SkillInvocation,
    SkillVersion,
    Task,
    Turn,
)

__all__ = ["Readable"]


class StateReader(Protocol):
    """The state reads of a migration."""

    def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Every live key under ``prefix``."""
        ...


class SessionReader(Protocol):
    """The session reads of a migration."""

    async def list(self, *, limit: int = 100) -> list[Session]:
        """Sessions, most recently updated first."""
        ...

    async def read(
        self, session_id: str, *, last: int | None = None, start: int = 0, end: int | None = None
    ) -> list[Turn]:
        """A session's turns from ``start``."""
        ...


class AgentReader(Protocol):
    """The agent-registry reads of a migration."""

    async def list(self, *, name: str | None = None) -> list[AgentInstance]:
        """Live instances."""
        ...


class SkillReader(Protocol):
    """The skill-registry reads of a migration."""

    async def list(self) -> list[SkillVersion]:
        """The latest version of every skill."""
        ...

    async def versions(self, name: str) -> list[SkillVersion]:
        """Every version of a skill, oldest first."""
        ...

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        """A skill's invocations, newest first."""
        ...


class EventReader(Protocol):
    """The event reads of a migration."""

    def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """A topic's log in publish order."""
        ...


class TaskReader(Protocol):
    """The task reads of a migration."""

    async def get(self, queue: str, task_id: str) -> Task | None:
        """One task."""
        ...


class Readable(Protocol):
    """A runtime a migration can read from (a backend, or a snapshot file read back)."""

    @property
    def state(self) -> StateReader:
        """Key-value state."""
        ...

    @property
    def sessions(self) -> SessionReader:
        """Sessions and their turns."""
        ...

    @property
    def agents(self) -> AgentReader:
        """The agent registry."""
        ...

    @property
    def skills(self) -> SkillReader:
        """The skill registry."""
        ...

    @property
    def events(self) -> EventReader:
        """Event logs."""
        ...

    @property
    def tasks(self) -> TaskReader:
        """Tasks."""
        ...
