"""Clusters of similar successful runs: the same task kind, similar task text and tool calls."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_optimizer._taxonomy import failure_of_trace
from memfun_optimizer.stats import task_kind, tool_sequence

if TYPE_CHECKING:
    from memfun_agent import RunTrace

__all__ = ["RunCluster", "cluster_runs"]

_WORD = re.compile(r"[a-z0-9]{3,}")
_TASK_SIMILARITY = 0.5
_TOOLS_SIMILARITY = 0.5


@dataclass(frozen=True, slots=True)
class RunCluster:
    """Successful runs that did the same kind of thing the same way.

    Attributes:
        kind: Their task kind.
        tasks: Their task texts (newest first).
        tools: The tool-call sequence of the first run.
        run_ids: Their trace ids.
        used_tools: Every tool any of them called, in first-use order (what an agent
            drafted from them may be given).
    """

    kind: str
    tasks: tuple[str, ...]
    tools: tuple[str, ...]
    run_ids: tuple[str, ...]
    used_tools: tuple[str, ...] = ()


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class _Group:
    kind: str
    terms: set[str]
    tools: tuple[str, ...]
    traces: list[RunTrace]


def cluster_runs(traces: Iterable[RunTrace], *, min_runs: int = 5) -> list[RunCluster]:
    """Group the successful runs among ``traces``; clusters of ``min_runs`` or more, largest first.

    A run joins the first group of its task kind whose first task shares at least half its
    (stemmed) words and whose tool calls share at least half their tool names; runs that
    already used a skill are left out (a skill exists for them).
    """
    groups: list[_Group] = []
    for trace in traces:
        if failure_of_trace(
            trace.outcome, trace.records, trace.metadata
        ) is not None or trace.metadata.get("skill"):
            continue
        kind = task_kind(trace)
        terms = _words(trace.task)
        tools = tool_sequence(trace)
        for group in groups:
            if (
                group.kind == kind
                and _jaccard(group.terms, terms) >= _TASK_SIMILARITY
                and _jaccard(set(group.tools), set(tools)) >= _TOOLS_SIMILARITY
            ):
                group.traces.append(trace)
                break
        else:
            groups.append(_Group(kind, terms, tools, [trace]))
    clusters = [
        RunCluster(
            g.kind,
            tuple(t.task for t in g.traces),
            g.tools,
            tuple(t.run_id for t in g.traces),
            tuple(dict.fromkeys(name for t in g.traces for name in tool_sequence(t))),
        )
        for g in groups
        if len(g.traces) >= min_runs
    ]
    clusters.sort(key=lambda c: -len(c.run_ids))
    return clusters
