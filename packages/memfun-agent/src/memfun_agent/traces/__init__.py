"""Run traces: every step, tool call and model call of a run, redacted, in ``memfun.trace/1``.

Stored through the runtime (:class:`TraceStore`); sinks receive each stored trace, such as the
OpenTelemetry export (:class:`OtlpTraceSink`, :func:`send_traces`; extra ``otel``).
"""

from __future__ import annotations

from memfun_agent.traces._otlp import OtlpTarget, send_traces, traces_url
from memfun_agent.traces._recorder import SCHEMA, TraceRecorder, redact_json
from memfun_agent.traces._sinks import (
    OtlpTraceSink,
    TraceReader,
    TraceSink,
    configured_sinks,
    trace_family,
)
from memfun_agent.traces._store import TRACE_KEY_PREFIX, TRACE_TOPIC, TraceStore
from memfun_agent.traces._trace import RunTrace

__all__ = [
    "SCHEMA",
    "TRACE_KEY_PREFIX",
    "TRACE_TOPIC",
    "OtlpTarget",
    "OtlpTraceSink",
    "RunTrace",
    "TraceReader",
    "TraceRecorder",
    "TraceSink",
    "TraceStore",
    "configured_sinks",
    "redact_json",
    "send_traces",
    "trace_family",
    "traces_url",
]
