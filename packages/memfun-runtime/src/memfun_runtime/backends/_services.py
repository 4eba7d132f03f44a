"""The part every tier's backend shares: its six services behind read-only properties."""

from __future__ import annotations

from dataclasses import dataclass

from memfun_runtime.protocols import (
    AgentRegistry,
    EventBus,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)

__all__ = ["ServiceProperties", "Services"]


@dataclass(frozen=True, slots=True)
class Services:
    """One backend's services."""

    events: EventBus
    state: StateStore
    tasks: TaskQueue
    sessions: SessionStore
    agents: AgentRegistry
    skills: SkillRegistry


class ServiceProperties:
    """Base of the in-tree backends: the ``Backend`` protocol's service properties, once.

    A backend builds its services, keeps its own typed references for its lifecycle, and
    hands them here with :meth:`_provide`.
    """

    _services: Services

    def _provide(self, services: Services) -> None:
        self._services = services

    @property
    def events(self) -> EventBus:
        """The event bus."""
        return self._services.events

    @property
    def state(self) -> StateStore:
        """The key-value state store."""
        return self._services.state

    @property
    def tasks(self) -> TaskQueue:
        """The task queue."""
        return self._services.tasks

    @property
    def sessions(self) -> SessionStore:
        """The session store."""
        return self._services.sessions

    @property
    def agents(self) -> AgentRegistry:
        """The agent registry."""
        return self._services.agents

    @property
    def skills(self) -> SkillRegistry:
        """The skill registry."""
        return self._services.skills
