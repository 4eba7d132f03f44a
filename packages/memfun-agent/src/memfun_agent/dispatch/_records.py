"""The records of a dispatched agent task: its payload, its result and the state keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import JSONValue

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "QUEUE_PREFIX",
    "AgentTaskResult",
    "DispatchParent",
    "TaskPayload",
    "cancel_key",
    "failed",
    "queue_of",
    "started_key",
]

QUEUE_PREFIX = "agents."
"""Tasks for the agent ``NAME`` wait in the queue ``agents.NAME``."""
DEFAULT_MAX_DEPTH = 3
"""Delegation levels below a top-level task (``[agents] max_delegation_depth``)."""
_CANCEL_PREFIX = "memfun.dispatch.cancel."
_STARTED_PREFIX = "memfun.dispatch.started."
_AGENT_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_AGENT_NAME = 64


def queue_of(agent: str) -> str:
    """The task queue of the agent called ``agent``.

    Raises:
        ValidationError: Not an agent name (lowercase letters, digits, single hyphens).
    """
    if not _AGENT_NAME.fullmatch(agent) or len(agent) > _MAX_AGENT_NAME:
        raise ValidationError(
            f"{agent!r} is not an agent name",
            field="agent",
            rule="lowercase letters, digits and single hyphens, at most 64 characters",
        )
    return QUEUE_PREFIX + agent


def cancel_key(task_id: str) -> str:
    """The state key a dispatcher sets to cancel the task ``task_id`` (pending or running)."""
    return _CANCEL_PREFIX + task_id


def started_key(task_id: str) -> str:
    """The state key where the agent running ``task_id`` says who it is (worker, pid, run)."""
    return _STARTED_PREFIX + task_id


@dataclass(frozen=True, slots=True)
class DispatchParent:
    """The run that hands a task to another agent (for limits, cycles and trace links).

    Attributes:
        run_id: The parent's run id (its trace's key), linked from the child's trace.
        agent: The parent agent's name.
        depth: The parent's delegation depth (0 for a top-level task).
        chain: The agent names from the top-level task down to the parent, parent last.
        delegates: Names the parent may delegate to (``("*",)`` any; ``None``: no rule).
        max_depth: Delegation levels allowed below the top-level task.
    """

    run_id: str | None
    agent: str
    depth: int = 0
    chain: tuple[str, ...] = ()
    delegates: tuple[str, ...] | None = None
    max_depth: int = DEFAULT_MAX_DEPTH

    def path(self) -> tuple[str, ...]:
        """The chain ending with the parent (its name added when missing)."""
        return self.chain if self.chain[-1:] == (self.agent,) else (*self.chain, self.agent)

    def refusal(self, child: str) -> str | None:
        """Why the parent may not hand a task to ``child``, or ``None`` when it may."""
        path = self.path()
        if self.delegates is not None and "*" not in self.delegates and child not in self.delegates:
            allowed = ", ".join(self.delegates) or "none"
            return (
                f"agent {self.agent!r} may not delegate to {child!r} "
                f"(its definition's delegates: {allowed})"
            )
        if child in path:
            cycle = " -> ".join((*path[path.index(child) :], child))
            return f"delegation cycle refused: {cycle}"
        if self.depth + 1 > self.max_depth:
            return (
                f"delegation depth limit reached: {' -> '.join((*path, child))} would be "
                f"{self.depth + 1} levels deep (max_delegation_depth = {self.max_depth})"
            )
        return None


@dataclass(frozen=True, slots=True)
class TaskPayload:
    """What a dispatched task carries to the agent that runs it.

    Attributes:
        task: What to do.
        agent: The agent addressed.
        context: More REPL variables (name -> text).
        parent_run_id: The parent's run id, if a run delegated it.
        parent_agent: The parent agent's name.
        depth: This task's delegation depth (0: top level).
        chain: Agent names from the top-level task down to this one's parent.
    """

    task: str
    agent: str
    context: Mapping[str, str] = field(default_factory=dict[str, str])
    parent_run_id: str | None = None
    parent_agent: str | None = None
    depth: int = 0
    chain: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSONValue]:
        """The task's JSON payload."""
        return {
            "kind": "memfun.agent-task/1",
            "task": self.task,
            "agent": self.agent,
            "context": dict(self.context),
            "parent_run_id": self.parent_run_id,
            "parent_agent": self.parent_agent,
            "depth": self.depth,
            "chain": list(self.chain),
        }

    @classmethod
    def from_json(cls, data: JSONValue) -> TaskPayload:
        """Read a payload back.

        Raises:
            ValidationError: Not an agent task payload.
        """
        doc = cast("dict[str, Any]", data) if isinstance(data, dict) else {}
        task = doc.get("task")
        agent = doc.get("agent")
        context: object = doc.get("context") or {}
        chain: object = doc.get("chain") or []
        if (
            doc.get("kind") != "memfun.agent-task/1"
            or not isinstance(task, str)
            or not isinstance(agent, str)
            or not isinstance(context, dict)
            or not isinstance(chain, list)
        ):
            raise ValidationError(
                "the task is not an agent task",
                field="payload",
                rule='{"kind": "memfun.agent-task/1", "task": str, "agent": str, ...}',
                hint="enqueue agent tasks with memfun_agent.dispatch.dispatch(...)",
            )
        parent_run = doc.get("parent_run_id")
        parent_agent = doc.get("parent_agent")
        return cls(
            task=task,
            agent=agent,
            context={str(k): str(v) for k, v in cast("dict[str, object]", context).items()},
            parent_run_id=parent_run if isinstance(parent_run, str) else None,
            parent_agent=parent_agent if isinstance(parent_agent, str) else None,
            depth=int(doc.get("depth") or 0),
            chain=tuple(str(name) for name in cast("list[object]", chain)),
        )


@dataclass(frozen=True, slots=True)
class AgentTaskResult:
    """What a dispatched task produced (also for a task that never ran).

    Attributes:
        task_id: The task's id in the queue.
        agent: The agent that was addressed.
        run_id: The child's run id (its trace's key), ``None`` when no run started.
        outcome: The run's stop reason (``completed``, ``max_tokens``, ``cancelled``...), or
            ``timeout``, ``cancelled``, ``refused`` or ``internal_error``.
        answer: The agent's answer ("" when it stopped before submitting).
        summary: What was changed and why, or why it stopped.
        diff: Unified diff of the files it changed.
        changed_files: Those files.
        cost_usd: Dollars the run spent (its own delegations included).
        tokens: Tokens the run spent (its own delegations included).
        error: Why it did not complete, when it did not.
        worker: The registry instance id of the agent that ran it.
        usage: The run's full usage (iterations, calls, input and output tokens...).
    """

    task_id: str
    agent: str
    run_id: str | None
    outcome: str
    answer: str
    summary: str
    diff: str
    changed_files: tuple[str, ...]
    cost_usd: float
    tokens: int
    error: str | None
    worker: str | None
    usage: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])

    @property
    def ok(self) -> bool:
        """Whether the agent completed the task (it submitted its answer)."""
        return self.outcome == "completed"

    @property
    def input_tokens(self) -> int:
        """Prompt tokens of the run (all of ``tokens`` when the split is unknown)."""
        value = self.usage.get("input_tokens")
        return int(value) if isinstance(value, int | float) else self.tokens

    @property
    def output_tokens(self) -> int:
        """Completion tokens of the run (0 when the split is unknown)."""
        value = self.usage.get("output_tokens")
        return int(value) if isinstance(value, int | float) else 0

    def to_json(self) -> dict[str, JSONValue]:
        """The result record stored with the completed task."""
        return {
            "kind": "memfun.agent-result/1",
            "task_id": self.task_id,
            "agent": self.agent,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "answer": self.answer,
            "summary": self.summary,
            "diff": self.diff,
            "changed_files": list(self.changed_files),
            "cost_usd": self.cost_usd,
            "tokens": self.tokens,
            "error": self.error,
            "worker": self.worker,
            "usage": dict(self.usage),
        }

    @classmethod
    def from_json(cls, data: JSONValue, *, task_id: str, agent: str) -> AgentTaskResult:
        """Read a result record back; anything else becomes an ``internal_error`` result."""
        doc = cast("dict[str, Any]", data) if isinstance(data, dict) else {}
        if doc.get("kind") != "memfun.agent-result/1":
            return failed(task_id, agent, "internal_error", f"not an agent result: {data!r:.300}")
        run_id = doc.get("run_id")
        error = doc.get("error")
        worker = doc.get("worker")
        usage = doc.get("usage")
        return cls(
            task_id=task_id,
            agent=agent,
            run_id=run_id if isinstance(run_id, str) else None,
            outcome=str(doc.get("outcome", "internal_error")),
            answer=str(doc.get("answer", "")),
            summary=str(doc.get("summary", "")),
            diff=str(doc.get("diff", "")),
            changed_files=tuple(str(p) for p in doc.get("changed_files") or ()),
            cost_usd=float(doc.get("cost_usd") or 0.0),
            tokens=int(doc.get("tokens") or 0),
            error=error if isinstance(error, str) else None,
            worker=worker if isinstance(worker, str) else None,
            usage=cast("dict[str, JSONValue]", usage) if isinstance(usage, dict) else {},
        )


def failed(
    task_id: str,
    agent: str,
    outcome: str,
    error: str,
    *,
    run_id: str | None = None,
    worker: str | None = None,
) -> AgentTaskResult:
    """A result for a task that did not run to an answer (refused, timed out, ...)."""
    return AgentTaskResult(
        task_id=task_id,
        agent=agent,
        run_id=run_id,
        outcome=outcome,
        answer="",
        summary=f"{outcome}: {error}",
        diff="",
        changed_files=(),
        cost_usd=0.0,
        tokens=0,
        error=error,
        worker=worker,
    )
