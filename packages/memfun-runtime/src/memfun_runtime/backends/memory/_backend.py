"""``MemoryBackend``: every service in process memory (tier ``memory``, T0)."""

from __future__ import annotations

from memfun_runtime import _codec
from memfun_runtime.backends._services import BackendBase, Services
from memfun_runtime.backends.memory._common import TIER, Gate
from memfun_runtime.backends.memory._events import MemoryEventBus
from memfun_runtime.backends.memory._registry import MemoryAgentRegistry, MemorySkillRegistry
from memfun_runtime.backends.memory._sessions import MemorySessionStore
from memfun_runtime.backends.memory._state import MemoryStateStore
from memfun_runtime.backends.memory._tasks import MemoryTaskQueue
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW

__all__ = ["MemoryBackend"]


class MemoryBackend(BackendBase):
    """The T0 reference backend: asyncio, in-process, no dependencies, volatile by design.

    Same semantics as every other tier, except that nothing survives the process. Data
    survives :meth:`stop` and a later :meth:`start` within the process. Safe for many
    coroutines on one event loop; not thread-safe.

    Args:
        dedupe_window: Seconds an event id is remembered for idempotent publish.
        max_events_per_topic: Oldest events are dropped beyond this many per topic.
        task_retention: Seconds completed and dead tasks stay inspectable.
    """

    TIER = TIER
    DURABLE = False

    def __init__(
        self,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
        task_retention: float = 86_400.0,
    ) -> None:
        _codec.check_positive(task_retention, field="task_retention")
        gate = self._gate = Gate()
        events = MemoryEventBus(
            gate, dedupe_window=dedupe_window, max_events_per_topic=max_events_per_topic
        )
        self._provide(
            Services(
                events,
                MemoryStateStore(gate),
                MemoryTaskQueue(gate, retention=task_retention),
                MemorySessionStore(gate),
                MemoryAgentRegistry(gate),
                MemorySkillRegistry(gate),
            )
        )

    def _running(self) -> bool:
        return self._gate.started

    async def _open(self) -> None:
        self._gate.started = True

    async def _close(self) -> None:
        self._gate.started = False

    async def _probe(self) -> str:
        return "in process memory"
