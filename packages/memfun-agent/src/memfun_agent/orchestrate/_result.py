"""Values of an orchestrated run: limits, each node's attempts and result, the whole result."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from memfun_agent.orchestrate._plan import Plan, PlanNode
from memfun_agent.traces import RunTrace
from memfun_core.errors import ValidationError
from memfun_runtime.protocols import JSONValue

__all__ = [
    "NodeAttempt",
    "NodeResult",
    "NodeRunner",
    "NodeStatus",
    "OrchestrationLimits",
    "OrchestrationOutcome",
    "OrchestrationResult",
    "TaskResultLike",
]

NodeStatus = Literal["completed", "failed", "skipped"]
"""A node's end: its agent completed it; every attempt failed; it never ran (why: ``error``)."""
OrchestrationOutcome = Literal["completed", "partial", "incomplete", "failed", "plan_invalid"]
"""``completed``: every node completed and the merge check passed; ``partial``: some nodes
failed or were skipped; ``incomplete``: every node completed but the merge check found gaps;
``failed``: no node completed; ``plan_invalid``: no valid plan after one repair."""


@runtime_checkable
class TaskResultLike(Protocol):
    """What a node runner returns: :class:`memfun_agent.dispatch.AgentTaskResult` fits."""

    @property
    def ok(self) -> bool:
        """Whether the agent completed the task."""
        ...

    @property
    def agent(self) -> str: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def diff(self) -> str: ...
    @property
    def changed_files(self) -> tuple[str, ...]: ...
    @property
    def cost_usd(self) -> float: ...
    @property
    def tokens(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def worker(self) -> str | None: ...


@runtime_checkable
class NodeRunner(Protocol):
    """Runs one node on an agent: ``inputs`` are its dependencies' results by REPL name."""

    def __call__(self, node: PlanNode, inputs: Mapping[str, str]) -> Awaitable[TaskResultLike]:
        """Run ``node`` and return its agent's result (raising is a failed attempt)."""
        ...


@dataclass(frozen=True, slots=True)
class OrchestrationLimits:
    """Bounds of an orchestrated run.

    Attributes:
        max_nodes: The most nodes a plan may have.
        max_attempts: Attempts per node (2: a failed node is retried once). A worker that
            dies mid-node does not use one: the task queue leases the task again.
        max_cost_usd: Dollars for the whole run (planner, nodes, merge); no node or retry
            starts once it is spent. ``None``: unlimited.
        max_parallel: Nodes running at once (``None``: as many as are ready).
        node_timeout: Seconds one attempt of a node may take (``None``: the agent's own).
    """

    max_nodes: int = 12
    max_attempts: int = 2
    max_cost_usd: float | None = None
    max_parallel: int | None = None
    node_timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_nodes", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValidationError(f"is {getattr(self, name)}", field=name, rule="at least 1")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise ValidationError(f"is {self.max_parallel}", field="max_parallel", rule=">= 1")
        for name in ("max_cost_usd", "node_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValidationError(f"is {value}", field=name, rule="> 0")


@dataclass(frozen=True, slots=True)
class NodeAttempt:
    """One attempt at a node.

    Attributes:
        attempt: 1, then 2 for the retry.
        outcome: The agent's outcome (``completed``, a stop reason), or ``error``.
        run_id: The child run's id (its trace), when it ran.
        worker: The worker instance that ran it, when known.
        cost_usd: What it cost.
        tokens: Tokens it used.
        error: Why it failed.
        started: Seconds after the orchestrated run started.
        ended: Seconds after the orchestrated run started.
    """

    attempt: int
    outcome: str
    run_id: str | None
    worker: str | None
    cost_usd: float
    tokens: int
    error: str | None
    started: float
    ended: float

    def to_json(self) -> dict[str, JSONValue]:
        """The attempt as JSON."""
        return {
            "attempt": self.attempt,
            "outcome": self.outcome,
            "run_id": self.run_id,
            "worker": self.worker,
            "cost_usd": self.cost_usd,
            "tokens": self.tokens,
            "error": self.error,
            "started": round(self.started, 6),
            "ended": round(self.ended, 6),
        }


@dataclass(frozen=True, slots=True)
class NodeResult:
    """How one node ended.

    Attributes:
        node: The plan node.
        status: See :data:`NodeStatus`.
        agent: The agent that ran the last attempt ("" when it never ran).
        answer: The agent's answer (completed nodes).
        summary: What it changed and why, or why it stopped.
        diff: The files it changed, as a unified diff.
        changed_files: Those files.
        error: Why it failed or was skipped.
        attempts: Every attempt, in order.
    """

    node: PlanNode
    status: NodeStatus
    agent: str = ""
    answer: str = ""
    summary: str = ""
    diff: str = ""
    changed_files: tuple[str, ...] = ()
    error: str | None = None
    attempts: tuple[NodeAttempt, ...] = ()

    @property
    def cost_usd(self) -> float:
        """The cost of every attempt."""
        return sum(a.cost_usd for a in self.attempts)

    @property
    def tokens(self) -> int:
        """The tokens of every attempt."""
        return sum(a.tokens for a in self.attempts)

    @property
    def run_ids(self) -> tuple[str, ...]:
        """The child runs (traces) of every attempt."""
        return tuple(a.run_id for a in self.attempts if a.run_id)

    def to_json(self) -> dict[str, JSONValue]:
        """The node's result as JSON (``--json`` and the trace)."""
        return {
            **self.node.to_json(),
            "status": self.status,
            "ran_on": self.agent,
            "answer": self.answer,
            "summary": self.summary,
            "changed_files": list(self.changed_files),
            "error": self.error,
            "cost_usd": self.cost_usd,
            "tokens": self.tokens,
            "attempts": [a.to_json() for a in self.attempts],
        }


@dataclass(frozen=True, slots=True)
class OrchestrationResult:
    """What an orchestrated run produced, complete or partial.

    Attributes:
        run_id: The orchestrated run's id (its trace's key).
        task: The task.
        outcome: See :data:`OrchestrationOutcome`.
        answer: The merged answer ("" when nothing completed).
        plan: The plan (``None`` when no valid plan was made).
        nodes: Each node's result, in plan order.
        checked: Whether the merge check found the task accomplished.
        gaps: What the merge check found missing.
        error: Why the run failed or is partial (which nodes, why).
        diff: Every node's diff, in plan order.
        cost_usd: Planner, every node attempt and the merge.
        tokens: The same, in tokens.
        wall_seconds: How long the run took.
        trace: The run's trace (plan, nodes, child run ids, timings, cost).
    """

    run_id: str
    task: str
    outcome: OrchestrationOutcome
    answer: str
    plan: Plan | None
    nodes: tuple[NodeResult, ...]
    checked: bool
    gaps: str
    error: str | None
    diff: str
    cost_usd: float
    tokens: int
    wall_seconds: float
    trace: RunTrace

    @property
    def completed(self) -> bool:
        """Whether every node completed and the merge check passed."""
        return self.outcome == "completed"

    def to_json(self) -> dict[str, JSONValue]:
        """The documented ``memfun orchestrate --json`` object."""
        return {
            "run_id": self.run_id,
            "task": self.task,
            "outcome": self.outcome,
            "answer": self.answer,
            "checked": self.checked,
            "gaps": self.gaps,
            "error": self.error,
            "plan": None if self.plan is None else self.plan.to_json(),
            "nodes": [node.to_json() for node in self.nodes],
            "diff": self.diff,
            "cost_usd": self.cost_usd,
            "tokens": self.tokens,
            "wall_seconds": round(self.wall_seconds, 3),
        }
