"""``MemoryBackend``: every service in process memory (tier ``memory``, T0)."""

from __future__ import annotations

from memfun_runtime import _codec
from memfun_runtime._backend import Backend
from memfun_runtime.backends._services import ServiceProperties, Services
from memfun_runtime.backends.memory._common import TIER, Gate, now
from memfun_runtime.backends.memory._events import MemoryEventBus
from memfun_runtime.backends.memory._registry import MemoryAgentRegistry, MemorySkillRegistry
from memfun_runtime.backends.memory._sessions import MemorySessionStore
from memfun_runtime.backends.memory._state import MemoryStateStore
from memfun_runtime.backends.memory._tasks import MemoryTaskQueue
from memfun_runtime.protocols import (
    DEFAULT_DEDUPE_WINDOW,
    ComponentHealth,
    HealthReport,
    HealthStatus,
)

__all__ = ["MemoryBackend"]

_SERVICES = ("events", "state", "tasks", "sessions", "agents", "skills")


class MemoryBackend(ServiceProperties, Backend):
    """The T0 reference backend: asyncio, in-process, no dependencies, volatile by design.

    Same semantics as every other tier, except that nothing survives the process. Data
    survives :meth:`stop` and a later :meth:`start` within the process. Safe for many
    coroutines on one event loop; not thread-safe.

    Args:
        dedupe_window: Seconds an event id is remembered for idempotent publish.
        max_events_per_topic: Oldest events are dropped beyond this many per topic.
        task_retention: Seconds completed and dead tasks stay inspectable.
    """

    def __init__(
        self,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
        task_retention: float = 86_400.0,
    ) -> None:
        _codec.check_positive(task_retention, field="task_retention")
        self._gate = Gate()
        self._events = MemoryEventBus(
            self._gate, dedupe_window=dedupe_window, max_events_per_topic=max_events_per_topic
        )
        self._state = MemoryStateStore(self._gate)
        self._tasks = MemoryTaskQueue(self._gate, retention=task_retention)
        self._sessions = MemorySessionStore(self._gate)
        self._agents = MemoryAgentRegistry(self._gate)
        self._skills = MemorySkillRegistry(self._gate)
        self._provide(
            Services(
                self._events, self._state, self._tasks, self._sessions, self._agents, self._skills
            )
        )

    @property
    def tier(self) -> str:
        """Always ``"memory"``."""
        return TIER

    @property
    def durable(self) -> bool:
        """Always ``False``: data lives in this process only."""
        return False

    async def start(self) -> None:
        """Mark the backend started (idempotent)."""
        self._gate.started = True

    async def stop(self) -> None:
        """Close open subscriptions and mark the backend stopped (idempotent)."""
        if self._gate.started:
            await self._events.close_all()
            self._gate.started = False

    async def health(self) -> HealthReport:
        """Report every service: ``ok`` while started, ``down`` otherwise."""
        if self._gate.started:
            status, detail = HealthStatus.OK, "in process memory"
        else:
            status, detail = HealthStatus.DOWN, "not started: await backend.start()"
        components = tuple(ComponentHealth(name, status, detail) for name in _SERVICES)
        return HealthReport(tier=TIER, components=components, checked_at=now())

    def __repr__(self) -> str:
        state = "started" if self._gate.started else "stopped"
        return f"MemoryBackend({state})"
