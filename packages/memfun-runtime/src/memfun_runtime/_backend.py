"""The ``Backend`` contract: the bundle of services one tier provides."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from memfun_runtime.protocols import (
    AgentRegistry,
    EventBus,
    HealthReport,
    SessionStore,
    SkillRegistry,
    StateStore,
    TaskQueue,
)

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """One tier's implementation of every runtime service, with a shared lifecycle.

    Build one (``MemoryBackend()``, ``SQLiteBackend(path)``), ``await start()`` it before
    touching a service, and ``await stop()`` it at the end (which closes open
    subscriptions and releases files or connections). ``start`` and ``stop`` are idempotent;
    a stopped backend may be started again. Using a service of a backend that is not started
    raises :class:`~memfun_core.errors.ConflictError` saying to start it.

    Attributes:
        tier: ``"memory"``, ``"sqlite"``, ``"redis"`` or ``"nats"``.
        durable: Whether data survives the process (False only for ``memory``).
        events: The event bus.
        state: The key-value state store.
        tasks: The task queue.
        sessions: The session store.
        agents: The agent registry.
        skills: The skill registry.
    """

    @property
    def tier(self) -> str: ...

    @property
    def durable(self) -> bool: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def tasks(self) -> TaskQueue: ...

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def agents(self) -> AgentRegistry: ...

    @property
    def skills(self) -> SkillRegistry: ...

    async def start(self) -> None:
        """Open the backend (create files, tables, streams; connect). Idempotent."""
        ...

    async def stop(self) -> None:
        """Close subscriptions and release resources. Idempotent."""
        ...

    async def health(self) -> HealthReport:
        """Report each service without raising.

        The report has one component per service (``events``, ``state``, ``tasks``,
        ``sessions``, ``agents``, ``skills``); an unreachable backend reports them ``down``.
        """
        ...
