"""The ``Backend`` contract: the bundle of services one tier provides."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from memfun_runtime.protocols import AgentHost, HealthCheck, Lifecycle

__all__ = ["Backend"]


@runtime_checkable
class Backend(AgentHost, Lifecycle, HealthCheck, Protocol):
    """One tier's implementation of every runtime service, with a shared lifecycle.

    Build one (``MemoryBackend()``, ``SQLiteBackend(path)``), ``await start()`` it before
    touching a service (it creates files, tables or streams, or connects), and
    ``await stop()`` it at the end (which closes open subscriptions and releases files or
    connections). ``start`` and ``stop`` are idempotent; a stopped backend may be started
    again. Using a service of a backend that is not started raises
    :class:`~memfun_core.errors.ConflictError` saying to start it. :meth:`health` reports one
    component per service (``events``, ``state``, ``tasks``, ``sessions``, ``agents``,
    ``skills``), all ``down`` when the backend cannot be reached.

    The services and ``tier`` are those of :class:`~memfun_runtime.protocols.AgentHost`.
    """

    @property
    def durable(self) -> bool:
        """Whether data survives the process (False only for ``memory``)."""
        ...
