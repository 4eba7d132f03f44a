"""Trace analysis: per-group numbers, the failure taxonomy, frequent tool-call sequences.

Per skill, agent and task kind: success rate, cost, tokens, latency and steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from statistics import median

from memfun_agent.traces import RunTrace
from memfun_optimizer._taxonomy import FailureKind, failure_of_trace
from memfun_runtime.protocols import JSONValue

__all__ = ["GroupStats", "ToolSequence", "TraceStats", "analyze", "task_kind", "tool_sequence"]


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The runs sharing one skill, agent or task kind.

    Attributes:
        key: The skill, agent or kind (``(none)`` for runs without one).
        runs: How many runs.
        succeeded: How many succeeded (completed and not rejected by a check).
        cost_usd: Total dollars.
        tokens: Total tokens.
        median_seconds: Median wall time of a run.
        mean_steps: Mean REPL steps per run.
        failures: Failure kind -> count.
    """

    key: str
    runs: int
    succeeded: int
    cost_usd: float
    tokens: int
    median_seconds: float
    mean_steps: float
    failures: Mapping[str, int]

    @property
    def success_rate(self) -> float:
        """``succeeded / runs``."""
        return self.succeeded / self.runs if self.runs else 0.0

    def to_json(self) -> dict[str, JSONValue]:
        """The group as ``memfun trace stats --json`` prints it."""
        return {
            "key": self.key,
            "runs": self.runs,
            "succeeded": self.succeeded,
            "success_rate": round(self.success_rate, 6),
            "cost_usd": round(self.cost_usd, 6),
            "tokens": self.tokens,
            "median_seconds": round(self.median_seconds, 3),
            "mean_steps": round(self.mean_steps, 3),
            "failures": dict(self.failures),
        }


@dataclass(frozen=True, slots=True)
class ToolSequence:
    """Consecutive tool calls seen in several successful runs.

    Attributes:
        tools: The tool names, in call order.
        runs: In how many successful runs the sequence occurs.
    """

    tools: tuple[str, ...]
    runs: int


@dataclass(frozen=True, slots=True)
class TraceStats:
    """What :func:`analyze` found."""

    runs: int
    succeeded: int
    by_skill: tuple[GroupStats, ...]
    by_agent: tuple[GroupStats, ...]
    by_kind: tuple[GroupStats, ...]
    failures: Mapping[str, int]
    sequences: tuple[ToolSequence, ...]

    def to_json(self) -> dict[str, JSONValue]:
        """The ``memfun trace stats --json`` object."""
        return {
            "runs": self.runs,
            "succeeded": self.succeeded,
            "by_skill": [g.to_json() for g in self.by_skill],
            "by_agent": [g.to_json() for g in self.by_agent],
            "by_kind": [g.to_json() for g in self.by_kind],
            "failures": dict(self.failures),
            "sequences": [{"tools": list(s.tools), "runs": s.runs} for s in self.sequences],
        }


_NONE = "(none)"


def task_kind(trace: RunTrace) -> str:
    """The run's kind: an eval task's ``task_kind``, else orchestration, skill, agent or task."""
    meta = trace.metadata
    if isinstance(meta.get("task_kind"), str):
        return str(meta["task_kind"])
    if meta.get("kind") == "orchestration":
        return "orchestration"
    if meta.get("skill"):
        return "skill"
    if meta.get("agent"):
        return "agent"
    return "task"


def tool_sequence(trace: RunTrace) -> tuple[str, ...]:
    """The names of the tools the model called, in order.

    Calls the agent makes before the first model call (the repo map) are left out.
    """
    calls: list[str] = []
    started = False
    for record in trace.records:
        kind = record.get("kind")
        started = started or kind == "lm_call"
        if started and kind == "tool_call":
            calls.append(str(record.get("tool", "")))
    return tuple(calls)


def _number(usage: Mapping[str, JSONValue], key: str) -> float:
    value = usage.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _group(
    key: str, traces: list[RunTrace], verdicts: Mapping[str, FailureKind | None]
) -> GroupStats:
    failures = Counter(str(verdicts[t.run_id]) for t in traces if verdicts[t.run_id] is not None)
    seconds = [_number(t.usage, "wall_seconds") or max(t.ended_at - t.started_at, 0.0)
               for t in traces]  # fmt: skip
    return GroupStats(
        key=key,
        runs=len(traces),
        succeeded=sum(1 for t in traces if verdicts[t.run_id] is None),
        cost_usd=sum(_number(t.usage, "cost_usd") for t in traces),
        tokens=int(sum(_number(t.usage, "tokens") for t in traces)),
        median_seconds=median(seconds) if seconds else 0.0,
        mean_steps=sum(_number(t.usage, "iterations") for t in traces) / len(traces),
        failures=dict(failures.most_common()),
    )


def _by(
    traces: list[RunTrace],
    verdicts: Mapping[str, FailureKind | None],
    key: Callable[[RunTrace], str],
) -> tuple[GroupStats, ...]:
    groups: dict[str, list[RunTrace]] = {}
    for trace in traces:
        groups.setdefault(key(trace), []).append(trace)
    found = [_group(name, members, verdicts) for name, members in groups.items()]
    return tuple(sorted(found, key=lambda g: (-g.runs, g.key)))


def _sequences(
    runs: Iterable[tuple[str, ...]], *, min_runs: int, max_length: int, top: int
) -> tuple[ToolSequence, ...]:
    support: Counter[tuple[str, ...]] = Counter()
    for calls in runs:
        seen = {
            calls[i : i + n] for n in range(2, max_length + 1) for i in range(len(calls) - n + 1)
        }
        support.update(seen)
    frequent = [ToolSequence(seq, count) for seq, count in support.items() if count >= min_runs]
    frequent.sort(key=lambda s: (-s.runs, -len(s.tools), s.tools))
    return tuple(frequent[:top])


def analyze(
    traces: Iterable[RunTrace], *, min_runs: int = 2, max_length: int = 4, top: int = 10
) -> TraceStats:
    """Analyze stored runs (see ``docs/optimizer.md``).

    A run succeeded when :func:`~memfun_optimizer.failure_of_trace` finds no failure.

    Args:
        traces: The runs (``TraceStore.list``).
        min_runs: A tool sequence is reported when this many successful runs contain it.
        max_length: The longest sequence considered (sequences have 2 calls or more).
        top: At most this many sequences, most frequent (then longest) first.
    """
    runs = list(traces)
    verdicts: dict[str, FailureKind | None] = {
        t.run_id: failure_of_trace(t.outcome, t.records, t.metadata) for t in runs
    }
    failures = Counter(str(v) for v in verdicts.values() if v is not None)

    def skill(trace: RunTrace) -> str:
        return str(trace.metadata.get("skill") or _NONE)

    def agent(trace: RunTrace) -> str:
        return str(trace.metadata.get("agent") or _NONE)

    good = [tool_sequence(t) for t in runs if verdicts[t.run_id] is None]
    return TraceStats(
        runs=len(runs),
        succeeded=sum(1 for v in verdicts.values() if v is None),
        by_skill=_by(runs, verdicts, skill),
        by_agent=_by(runs, verdicts, agent),
        by_kind=_by(runs, verdicts, task_kind),
        failures=dict(failures.most_common()),
        sequences=_sequences(good, min_runs=min_runs, max_length=max_length, top=top),
    )
