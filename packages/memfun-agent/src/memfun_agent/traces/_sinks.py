"""Where saved traces go besides the runtime: sinks, and the live OTLP export of ``[telemetry]``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol, cast, runtime_checkable

from memfun_agent.traces._otlp import OtlpTarget, send_traces
from memfun_agent.traces._trace import RunTrace
from memfun_core.config import MemfunConfig, load_config
from memfun_runtime.protocols import JSONValue

__all__ = ["OtlpTraceSink", "TraceReader", "TraceSink", "configured_sinks", "trace_family"]

_MAX_FAMILY = 1000


@runtime_checkable
class TraceReader(Protocol):
    """Reads stored traces back (:class:`~memfun_agent.traces.TraceStore` is one)."""

    async def load(self, run_id: str) -> RunTrace | None:
        """One run's trace, or ``None``."""
        ...


@runtime_checkable
class TraceSink(Protocol):
    """Receives every trace :meth:`TraceStore.save` has stored."""

    async def export(self, trace: RunTrace, store: TraceReader) -> None:
        """Take ``trace`` (``store`` reads its parent and child runs).

        Raises:
            MemfunError: The trace could not be exported (it stays stored).
        """
        ...


def _parent(trace: RunTrace) -> str | None:
    parent = trace.metadata.get("parent_run_id")
    return parent if isinstance(parent, str) and parent else None


def _children(trace: RunTrace) -> list[str]:
    found = [
        str(record["child_run_id"])
        for record in trace.of_kind("delegation")
        if isinstance(record.get("child_run_id"), str) and record.get("child_run_id")
    ]
    listed = trace.metadata.get("children")
    if isinstance(listed, list):
        found += [str(run_id) for run_id in cast("list[JSONValue]", listed) if run_id]
    return list(dict.fromkeys(found))


async def trace_family(
    store: TraceReader, traces: Sequence[RunTrace], *, limit: int = _MAX_FAMILY
) -> tuple[list[RunTrace], dict[str, RunTrace]]:
    """``traces`` with their stored descendants, and every run read (ancestors too).

    Descendants are the runs a run delegated to (``delegation`` records) and the nodes an
    orchestration lists (``metadata.children``); ancestors are followed by
    ``metadata.parent_run_id``. At most ``limit`` runs are exported.

    Returns:
        The runs to export (``traces`` first) and every run read, by id.
    """
    export = {trace.run_id: trace for trace in traces}
    known: dict[str, RunTrace] = dict(export)
    queue = list(traces)
    while queue and len(export) < limit:
        for child_id in _children(queue.pop(0)):
            if child_id in known or len(export) >= limit:
                continue
            child = await store.load(child_id)
            if child is not None:
                known[child_id] = export[child_id] = child
                queue.append(child)
    for trace in list(export.values()):
        parent = _parent(trace)
        while parent is not None and parent not in known and len(known) < 2 * limit:
            above = await store.load(parent)
            if above is None:
                break
            known[parent] = above
            parent = _parent(above)
    return list(export.values()), known


class OtlpTraceSink:
    """Exports each saved run, with its stored child runs, to an OTLP/HTTP endpoint.

    A child run saved before its parent (the usual order: the parent waits for it) is sent
    with the parent's tree when the parent is saved; one saved after its parent (a late
    delegation) is sent on its own, under the parent's span.

    Args:
        target: Where to send.
    """

    def __init__(self, target: OtlpTarget) -> None:
        self.target = target

    async def export(self, trace: RunTrace, store: TraceReader) -> None:
        """Send ``trace`` and its descendants (see the class).

        Raises:
            BackendError: The endpoint could not be reached or refused the spans.
            MissingExtraError: ``memfun-agent[otel]`` is not installed.
        """
        parent = _parent(trace)
        if parent is not None and await store.load(parent) is None:
            return  # sent in the parent's tree once the parent is saved
        runs, known = await trace_family(store, [trace])
        await asyncio.to_thread(send_traces, runs, self.target, known=known)


def configured_sinks(
    config: MemfunConfig | None = None, environ: Mapping[str, str] | None = None
) -> tuple[TraceSink, ...]:
    """The sinks ``[telemetry]`` asks for: live OTLP export when ``enabled``.

    Raises:
        ConfigError: The configuration is invalid, or a header references an unset variable.
        PermissionDeniedError: The untrusted project's own ``memfun.toml`` sets it.
    """
    config = config or load_config(environ=environ)
    if not config.telemetry.enabled:
        return ()
    target = OtlpTarget.from_config(config, environ)
    return (OtlpTraceSink(target),) if target is not None else ()
