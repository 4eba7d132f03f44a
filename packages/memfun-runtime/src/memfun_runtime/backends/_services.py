"""What every tier's backend shares: its six services, start/stop, health and repr, once."""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Protocol

from memfun_core.errors import ConflictError, MemfunError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import (
    AgentRegistry,
    ComponentHealth,
    EventBus,
    HealthReport,
    HealthStatus,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)

__all__ = ["SERVICE_NAMES", "BackendBase", "Services", "not_started"]

SERVICE_NAMES = ("events", "state", "tasks", "sessions", "agents", "skills")
"""The components of every backend's health report."""


def not_started(tier: str) -> ConflictError:
    """The error of a service whose backend (``tier``, as the message names it) is not started."""
    return ConflictError(
        f"the {tier} backend is not started",
        hint="await backend.start() first, or use `async with runtime:`",
    )


class _Bus(EventBus, Protocol):
    async def close_all(self) -> None:
        """Close every open subscription."""
        ...


@dataclass(frozen=True, slots=True)
class Services:
    """One backend's services."""

    events: _Bus
    state: StateStore
    tasks: TaskQueue
    sessions: SessionStore
    agents: AgentRegistry
    skills: SkillRegistry


class BackendBase(Backend):
    """Base of the in-tree backends: the ``Backend`` protocol around a tier's own store.

    A backend builds its services, keeps its own typed references for its lifecycle, hands
    them here with :meth:`_provide`, and implements :meth:`_running`, :meth:`_open`,
    :meth:`_close` and :meth:`_probe`; ``start`` and ``stop`` are then idempotent, ``stop``
    closes open subscriptions first, and ``health`` never raises.
    """

    TIER: ClassVar[str]
    """The tier's name."""
    DURABLE: ClassVar[bool] = True
    """Whether data survives the process."""

    _services: Services

    def _provide(self, services: Services) -> None:
        self._services = services

    @property
    def tier(self) -> str:
        """``"memory"``, ``"sqlite"``, ``"redis"`` or ``"nats"``."""
        return self.TIER

    @property
    def durable(self) -> bool:
        """Whether data survives the process (``False`` only for ``memory``)."""
        return self.DURABLE

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

    async def start(self) -> None:
        """Open the backend (idempotent); see the tier's ``_open`` for what it raises."""
        if not self._running():
            await self._open()

    async def stop(self) -> None:
        """Close open subscriptions, then release the tier's resources (idempotent)."""
        if self._running():
            await self._services.events.close_all()
            await self._close()

    async def health(self) -> HealthReport:
        """Report every service: ``ok`` when the store answers, ``down`` otherwise."""
        if not self._running():
            status, detail = HealthStatus.DOWN, "not started: await backend.start()"
        else:
            try:
                status, detail = HealthStatus.OK, await self._probe()
            except MemfunError as exc:
                status, detail = HealthStatus.DOWN, str(exc)
        components = tuple(ComponentHealth(name, status, detail) for name in SERVICE_NAMES)
        return HealthReport(tier=self.TIER, components=components, checked_at=time.time())

    def __repr__(self) -> str:
        state = "started" if self._running() else "stopped"
        return f"{type(self).__name__}({', '.join([*self._where(), state])})"

    @abstractmethod
    def _running(self) -> bool:
        """Whether the backend is started."""

    @abstractmethod
    async def _open(self) -> None:
        """Open the store (the backend is not started)."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the store (the backend is started; its subscriptions are closed)."""

    @abstractmethod
    async def _probe(self) -> str:
        """Check that the store answers and say so; raise a MemfunError when it does not."""

    def _where(self) -> tuple[str, ...]:
        """What the repr shows before the state (where the data lives)."""
        return ()
