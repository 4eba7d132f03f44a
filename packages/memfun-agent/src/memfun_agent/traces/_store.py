"""Writing traces through the runtime (any tier) and reading them back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from memfun_agent.traces._trace import RunTrace
from memfun_core.errors import MemfunError
from memfun_runtime.protocols import EventBus, JSONValue, StateStore

if TYPE_CHECKING:
    from memfun_agent.traces._sinks import TraceSink

__all__ = ["TRACE_KEY_PREFIX", "TRACE_TOPIC", "TraceStore"]

TRACE_KEY_PREFIX = "memfun.traces."
"""State-store key prefix of stored traces (``memfun.traces.<run_id>``)."""
TRACE_TOPIC = "memfun.agent.runs"
"""Event-bus topic where a summary of every finished run is published."""

_log = logging.getLogger("memfun.telemetry")


class _RuntimeLike(Protocol):
    @property
    def state(self) -> StateStore: ...

    @property
    def events(self) -> EventBus: ...


class TraceStore:
    """Stores each run's trace in the runtime's state store and announces it on the bus.

    ``memfun trace`` and the optimizer read traces with :meth:`load` and :meth:`list`;
    subscribers of :data:`TRACE_TOPIC` receive ``{"run_id", "outcome", "usage", ...}``
    for every finished run.

    Args:
        runtime: A started :class:`~memfun_runtime.Runtime` (or anything with ``state`` and
            ``events``).
        ttl: Seconds a trace is kept (``None``: forever).
        sinks: Where each stored trace also goes (``()``: nowhere). ``None``: what the
            ``[telemetry]`` configuration asks for, read at the first save (live OTLP export
            when enabled). A sink that fails is logged as a warning; the trace stays stored.
    """

    def __init__(
        self,
        runtime: _RuntimeLike,
        *,
        ttl: float | None = None,
        sinks: Sequence[TraceSink] | None = None,
    ) -> None:
        self._state = runtime.state
        self._events = runtime.events
        self._ttl = ttl
        self._sinks = None if sinks is None else tuple(sinks)

    async def save(self, trace: RunTrace) -> None:
        """Store ``trace`` and publish its summary."""
        await self._state.set(TRACE_KEY_PREFIX + trace.run_id, trace.to_json(), ttl=self._ttl)
        summary: dict[str, JSONValue] = {
            "run_id": trace.run_id,
            "task": trace.task[:500],
            "outcome": trace.outcome,
            "error": trace.error,
            "model": trace.model,
            "usage": dict(trace.usage),
            "started_at": trace.started_at,
            "ended_at": trace.ended_at,
            "metadata": dict(trace.metadata),
        }
        await self._events.publish(TRACE_TOPIC, summary, event_id=f"run-{trace.run_id}")
        await self._export(trace)

    async def _export(self, trace: RunTrace) -> None:
        try:
            if self._sinks is None:
                from memfun_agent.traces._sinks import configured_sinks

                self._sinks = configured_sinks()
            for sink in self._sinks:
                await sink.export(trace, self)
        except MemfunError as exc:  # the run is done and stored: say why, do not fail it
            _log.warning("run %s is stored but was not exported: %s", trace.run_id, exc)

    async def load(self, run_id: str) -> RunTrace | None:
        """Read one run's trace, or ``None`` when it is not stored."""
        entry = await self._state.get(TRACE_KEY_PREFIX + run_id)
        if entry is None:
            return None
        return RunTrace.from_json(entry.value, location=TRACE_KEY_PREFIX + run_id)

    async def list(self, *, limit: int = 50) -> list[RunTrace]:
        """Stored traces, newest first (at most ``limit``)."""
        found: list[RunTrace] = []
        async for key, entry in self._state.scan(TRACE_KEY_PREFIX):
            found.append(RunTrace.from_json(entry.value, location=key))
        found.sort(key=lambda trace: trace.started_at, reverse=True)
        return found[:limit]
