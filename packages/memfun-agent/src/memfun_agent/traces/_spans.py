"""A run trace as OpenTelemetry spans (GenAI semantic conventions), with the recorded times.

Plain values only (no OpenTelemetry import): :mod:`memfun_agent.traces._otlp` turns them into
SDK spans. One ``invoke_agent`` span per run; under it a span per REPL step (the iteration's
model call, then its code); ``chat`` spans for model calls and ``execute_tool`` spans for tool
calls under the step they belong to (setup calls before the first step under the run); other
records as span events. A delegated child run hangs under the step that delegated it, an
orchestration's nodes under the orchestration. Ids are derived from run ids, so exporting a
run twice gives the same spans, and a root run id of 32 hex digits is its trace id.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from memfun_agent.traces._trace import RunTrace
from memfun_runtime.protocols import JSONValue

__all__ = [
    "AttributeValue",
    "SpanEvent",
    "SpanSpec",
    "otel_trace_id",
    "provider_name",
    "run_span_id",
    "run_spans",
    "tree_spans",
]

AttributeValue = str | int | float | bool
_MAX_TEXT = 8192
_HEX_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
#: Record kinds that become spans (or the run span's own fields); every other kind is an event.
_NOT_EVENTS = frozenset({"run_start", "run_end", "step", "lm_call", "tool_call"})
#: LiteLLM provider prefixes whose OpenTelemetry ``gen_ai.provider.name`` differs.
_PROVIDERS = {
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A record shown as a point in time on a span."""

    name: str
    time: float
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict[str, AttributeValue])


@dataclass(frozen=True, slots=True)
class SpanSpec:
    """One span to export: ids, times in Unix seconds, attributes, events and status."""

    name: str
    span_id: int
    parent_id: int | None
    kind: Literal["internal", "client"]
    start: float
    end: float
    attributes: Mapping[str, AttributeValue]
    events: tuple[SpanEvent, ...] = ()
    error: str | None = None


def _hash_id(text: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big") or 1


def otel_trace_id(root_run_id: str) -> int:
    """The OpenTelemetry trace id of a run tree: its root run id when that is 32 hex digits."""
    if _HEX_RUN_ID.match(root_run_id) and int(root_run_id, 16):
        return int(root_run_id, 16)
    return _hash_id(f"memfun.trace:{root_run_id}", 16)


def run_span_id(run_id: str) -> int:
    """The span id of a run's ``invoke_agent`` span."""
    return _hash_id(f"memfun.run:{run_id}", 8)


def _record_span_id(run_id: str, seq: object) -> int:
    return _hash_id(f"memfun.record:{run_id}:{seq}", 8)


def provider_name(model: str) -> str:
    """``gen_ai.provider.name`` of a LiteLLM model string (``_OTHER`` without a provider)."""
    prefix = model.split("/", 1)[0] if "/" in model else ""
    return _PROVIDERS.get(prefix, prefix) or "_OTHER"


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    if len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT] + f"…[{len(text) - _MAX_TEXT} more characters]"


def _number(value: JSONValue | None) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: JSONValue | None) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _end(trace: RunTrace, record: Mapping[str, JSONValue]) -> float:
    return trace.started_at + (_number(record.get("t")) or 0.0)


def _start(trace: RunTrace, index: int) -> float:
    """When a record's work began: its end less its duration, or the record before it ended.

    A model call's record is written when the reply arrives and has no duration; the call
    began after the record before it (the previous step, tool call or setup).
    """
    record = trace.records[index]
    end = _end(trace, record)
    duration = _number(record.get("duration"))
    if duration is not None:
        return max(trace.started_at, end - duration)
    if record.get("kind") == "lm_call":
        return _end(trace, trace.records[index - 1]) if index else trace.started_at
    return end


def _groups(trace: RunTrace) -> tuple[dict[int, list[int]], list[int]]:
    """Step record index -> member record indexes, and the indexes that belong to the run."""
    steps: dict[int, list[int]] = {}
    loose: list[int] = []
    current: list[int] | None = None
    for index, record in enumerate(trace.records):
        kind = record.get("kind")
        if kind == "step":
            steps[index] = current or []
            current = None
        elif current is not None:
            current.append(index)
        elif kind == "lm_call" and record.get("role") == "main":
            current = [index]
        else:
            loose.append(index)
    return steps, sorted([*loose, *(current or [])])


def _agent_name(trace: RunTrace) -> str:
    agent = trace.metadata.get("agent")
    if isinstance(agent, str) and agent:
        return agent
    return "orchestrator" if trace.metadata.get("kind") == "orchestration" else "memfun"


def _run_span(
    trace: RunTrace, conversation: str, content: bool
) -> tuple[dict[str, AttributeValue], str | None]:
    usage = trace.usage
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": provider_name(trace.model),
        "gen_ai.system": provider_name(trace.model),
        "gen_ai.agent.name": _agent_name(trace),
        "gen_ai.conversation.id": conversation,
        "gen_ai.request.model": trace.model,
        "gen_ai.usage.input_tokens": _int(usage.get("input_tokens")),
        "gen_ai.usage.output_tokens": _int(usage.get("output_tokens")),
        "memfun.run.id": trace.run_id,
        "memfun.run.outcome": trace.outcome,
        "memfun.run.tokens": _int(usage.get("tokens")),
        "memfun.run.cost_usd": _number(usage.get("cost_usd")) or 0.0,
        "memfun.run.iterations": _int(usage.get("iterations")),
    }
    for key in ("skill", "parent_run_id", "task_id", "kind"):
        value = trace.metadata.get(key)
        if isinstance(value, str) and value:
            attributes[f"memfun.{key}"] = value
    if content:
        attributes["memfun.task"] = _text(trace.task)
    if trace.outcome == "completed":
        return attributes, None
    attributes["error.type"] = trace.outcome
    return attributes, _text(f"{trace.outcome}: {trace.error or ''}".rstrip(": "))


def _chat(trace: RunTrace, index: int, content: bool) -> dict[str, AttributeValue]:
    record = trace.records[index]
    model = str(record.get("model") or trace.model)
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_name(model),
        "gen_ai.system": provider_name(model),
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": _int(record.get("input_tokens")),
        "gen_ai.usage.output_tokens": _int(record.get("output_tokens")),
        "memfun.lm.role": str(record.get("role") or ""),
        "memfun.lm.prompt_chars": _int(record.get("prompt_chars")),
    }
    cost = _number(record.get("cost_usd"))
    if cost is not None:
        attributes["memfun.cost_usd"] = cost
    if content:
        reply = str(record.get("reply") or "")
        message = {"role": "assistant", "parts": [{"type": "text", "content": reply}]}
        attributes["gen_ai.output.messages"] = _text([message])
    return attributes


def _tool(
    trace: RunTrace, index: int, content: bool
) -> tuple[dict[str, AttributeValue], str | None]:
    record = trace.records[index]
    attributes: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": str(record.get("tool") or ""),
        "gen_ai.tool.call.id": f"{trace.run_id}:{record.get('seq')}",
        "gen_ai.tool.type": "function" if record.get("source") == "memfun" else "extension",
        "memfun.tool.source": str(record.get("source") or ""),
    }
    if content:
        attributes["gen_ai.tool.call.arguments"] = _text(record.get("arguments") or {})
        if record.get("result") is not None:
            attributes["gen_ai.tool.call.result"] = _text(record.get("result"))
    if record.get("ok") is False:
        attributes["error.type"] = "tool_error"
        return attributes, _text(record.get("error") or "the tool failed")
    return attributes, None


def _step(
    trace: RunTrace, index: int, content: bool
) -> tuple[dict[str, AttributeValue], str | None]:
    record = trace.records[index]
    attributes: dict[str, AttributeValue] = {
        "memfun.step.iteration": _int(record.get("iteration")),
        "memfun.step.final": record.get("final") is True,
    }
    if content:
        for key in ("reasoning", "code", "output"):
            attributes[f"memfun.step.{key}"] = _text(record.get(key) or "")
    error = record.get("error")
    if isinstance(error, str) and error:
        lines = [line for line in error.strip().splitlines() if line.strip()]
        return attributes, _text(lines[-1] if lines else error)
    return attributes, None


def _event(trace: RunTrace, index: int, content: bool) -> SpanEvent:
    record = trace.records[index]
    attributes: dict[str, AttributeValue] = {"memfun.record.seq": _int(record.get("seq"))}
    if content:
        rest = {k: v for k, v in record.items() if k not in ("seq", "t", "kind")}
        attributes["memfun.record"] = _text(rest)
    for key in ("outcome", "child_run_id", "agent", "passed"):
        value = record.get(key)
        if isinstance(value, str | bool) and value != "":
            attributes[f"memfun.{key}"] = value
    return SpanEvent(str(record.get("kind")), _end(trace, record), attributes)


def _child_span(
    trace: RunTrace, index: int, parent: int, content: bool
) -> tuple[SpanSpec | None, SpanEvent | None]:
    """The span (model or tool call) or event of one record under ``parent``."""
    record = trace.records[index]
    kind = record.get("kind")
    span_id = _record_span_id(trace.run_id, record.get("seq"))
    start, end = _start(trace, index), _end(trace, record)
    if kind == "lm_call":
        attributes = _chat(trace, index, content)
        name = f"chat {attributes['gen_ai.request.model']}"
        return SpanSpec(name, span_id, parent, "client", start, end, attributes), None
    if kind == "tool_call":
        attributes, error = _tool(trace, index, content)
        name = f"execute_tool {attributes['gen_ai.tool.name']}"
        return SpanSpec(name, span_id, parent, "internal", start, end, attributes, (), error), None
    if kind in _NOT_EVENTS:
        return None, None
    return None, _event(trace, index, content)


def delegating_span(trace: RunTrace, child_run_id: str) -> int:
    """The span a child run hangs under: the step that delegated it, else the run."""
    steps, _ = _groups(trace)
    for step_index, members in steps.items():
        for index in members:
            record = trace.records[index]
            if record.get("kind") == "delegation" and record.get("child_run_id") == child_run_id:
                return _record_span_id(trace.run_id, trace.records[step_index].get("seq"))
    return run_span_id(trace.run_id)


def run_spans(
    trace: RunTrace, *, parent: int | None, conversation: str, content: bool = True
) -> list[SpanSpec]:
    """Every span of one run (not its child runs), the ``invoke_agent`` span first.

    Args:
        trace: The run.
        parent: The span it hangs under (a delegating step), ``None`` for a root run.
        conversation: ``gen_ai.conversation.id`` (the chat session, else the root run id).
        content: Whether spans carry the run's text (task, code, replies, tool arguments).
    """
    run_id = run_span_id(trace.run_id)
    steps, loose = _groups(trace)
    out: list[SpanSpec] = []
    run_events: list[SpanEvent] = []
    for index in loose:
        span, event = _child_span(trace, index, run_id, content)
        out += [span] if span else []
        run_events += [event] if event else []
    for step_index, members in steps.items():
        record = trace.records[step_index]
        step_id = _record_span_id(trace.run_id, record.get("seq"))
        step_events: list[SpanEvent] = []
        for index in members:
            span, event = _child_span(trace, index, step_id, content)
            out += [span] if span else []
            step_events += [event] if event else []
        attributes, error = _step(trace, step_index, content)
        starts = [_start(trace, i) for i in (*members, step_index)]
        name = f"step {attributes['memfun.step.iteration']}"
        out.append(
            SpanSpec(
                name, step_id, run_id, "internal", min(starts), _end(trace, record),
                attributes, tuple(step_events), error,
            )
        )  # fmt: skip
    attributes, error = _run_span(trace, conversation, content)
    name = f"invoke_agent {attributes['gen_ai.agent.name']}"
    end = max(trace.ended_at, *(span.end for span in out)) if out else trace.ended_at
    run = SpanSpec(
        name, run_id, parent, "internal", trace.started_at, end, attributes,
        tuple(run_events), error,
    )  # fmt: skip
    return [run, *out]


def tree_spans(
    traces: Sequence[RunTrace], known: Mapping[str, RunTrace], *, content: bool = True
) -> list[tuple[int, list[SpanSpec]]]:
    """Spans of ``traces`` grouped by trace id, each run placed under its parent.

    Args:
        traces: The runs to export.
        known: Every run read (ancestors too), by id: where each run's parent and root are.
        content: See :func:`run_spans`.
    """
    listed: dict[str, RunTrace] = {}
    for above in known.values():
        children = above.metadata.get("children")
        if isinstance(children, list):
            for child in cast("list[JSONValue]", children):
                listed[str(child)] = above

    def parent_of(trace: RunTrace) -> str | None:
        named = trace.metadata.get("parent_run_id")
        if isinstance(named, str) and named:
            return named
        found = listed.get(trace.run_id)
        return found.run_id if found else None

    def root_of(trace: RunTrace) -> str:
        seen = {trace.run_id}
        current = trace.run_id
        parent = parent_of(trace)
        while parent is not None and parent not in seen:
            seen.add(parent)
            current = parent
            above = known.get(parent)
            parent = parent_of(above) if above is not None else None
        return current

    out: list[tuple[int, list[SpanSpec]]] = []
    for trace in traces:
        root = root_of(trace)
        parent_id = parent_of(trace)
        parent_trace = known.get(parent_id) if parent_id else None
        parent_span = (
            delegating_span(parent_trace, trace.run_id)
            if parent_trace is not None
            else run_span_id(parent_id)
            if parent_id
            else None
        )
        session = trace.metadata.get("session")
        root_trace = known.get(root)
        if root_trace is not None and not (isinstance(session, str) and session):
            session = root_trace.metadata.get("session")
        conversation = session if isinstance(session, str) and session else root
        spans = run_spans(trace, parent=parent_span, conversation=conversation, content=content)
        out.append((otel_trace_id(root), spans))
    return out
