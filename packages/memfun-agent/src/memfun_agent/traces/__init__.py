"""Run traces: every step, tool call and model call of a run, redacted, in ``memfun.trace/1``."""

from __future__ import annotations

from memfun_agent.traces._recorder import SCHEMA, TraceRecorder, redact_json
from memfun_agent.traces._store import TRACE_KEY_PREFIX, TRACE_TOPIC, TraceStore
from memfun_agent.traces._trace import RunTrace

__all__ = [
    "SCHEMA",
    "TRACE_KEY_PREFIX",
    "TRACE_TOPIC",
    "RunTrace",
    "TraceRecorder",
    "TraceStore",
    "redact_json",
]
