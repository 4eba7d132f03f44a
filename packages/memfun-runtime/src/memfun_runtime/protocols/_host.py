"""``AgentHost``: what an agent sees of the runtime it runs in (its stores)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from memfun_runtime.protocols._events import EventBus
from memfun_runtime.protocols._registry import AgentRegistry, SkillRegistry
from memfun_runtime.protocols._sessions import SessionStore
from memfun_runtime.protocols._state import StateStore
from memfun_runtime.protocols._tasks import TaskQueue

__all__ = ["AgentHost"]


@runtime_checkable
class AgentHost(Protocol):
    """The services of a running runtime, as agents and agent code use them.

    :class:`~memfun_runtime.Runtime` is one; code that only needs the stores (an agent's
    ``self.runtime``, dispatch helpers) takes an ``AgentHost`` so it runs on any of them.
    """

    @property
    def tier(self) -> str:
        """The backend's tier name (``memory``, ``sqlite``, ``redis``, ``nats``)."""
        ...

    @property
    def events(self) -> EventBus:
        """The event bus."""
        ...

    @property
    def state(self) -> StateStore:
        """The key-value state store."""
        ...

    @property
    def tasks(self) -> TaskQueue:
        """The task queue."""
        ...

    @property
    def sessions(self) -> SessionStore:
        """The session store."""
        ...

    @property
    def agents(self) -> AgentRegistry:
        """The agent registry."""
        ...

    @property
    def skills(self) -> SkillRegistry:
        """The skill registry."""
        ...
