"""The ``Backend`` contract: the bundle of services one tier provides."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from memfun_runtime.protocols import AgentHost, HealthReport

__all__ = ["Backend"]


@runtime_checkable
class Backend(AgentHost, Protocol):
    """One tier's implementation of every runtime service, with a shared lifecycle.

    Build one (``MemoryBackend()``, ``SQLiteBackend(path)``), ``await start()`` it before
    touching a service, and ``await stop()`` it at the end (which closes open
    subscriptions and releases files or connections). ``start`` and ``stop`` are idempotent;
    a stopped backend may be started again. Using a service of a backend that is not started
    raises :class:`~memfun_core.errors.ConflictError` saying to start it.

    The services (``events``, ``state``, ``tasks``, ``sessions``, ``agents``, ``skills``) and
    ``tier`` are those of :class:`~memfun_runtime.protocols.AgentHost`.
    """

    @property
    def durable(self) -> bool:
        """Whether data survives the process (False only for ``memory``)."""
        ...

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
