"""The planner: DSPy signatures that decompose a task into a plan, and repair a rejected one."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false
# pyright: reportUntypedBaseClass=false

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
from dspy.utils.exceptions import AdapterParseError  # pyright: ignore[reportMissingTypeStubs]
from pydantic import BaseModel, Field

from memfun_agent.definitions import AgentDefinition
from memfun_agent.orchestrate._plan import Plan, PlanError, parse_plan

__all__ = ["DecomposeTask", "Planner", "RepairPlan", "SubTask", "describe_agents"]


class SubTask(BaseModel):
    """One sub-task as the planner writes it (checked again by :func:`parse_plan`)."""

    id: str = Field(description="a short unique id: letters, digits, '-' or '_'")
    task: str = Field(description="what the agent must do, self-contained")
    agent: str | None = Field(default=None, description="the agent's name, from the list")
    capability: str | None = Field(
        default=None, description="instead of an agent: a capability from the list"
    )
    depends_on: list[str] = Field(
        default_factory=list, description="ids of sub-tasks whose results this one needs"
    )


class DecomposeTask(dspy.Signature):
    """Decompose a software task into a small plan of sub-tasks for specialised agents.

    Give each sub-task to the one agent (or capability) whose description fits it best.
    Sub-tasks that do not need each other's results must not depend on each other, so they
    run in parallel; a sub-task that needs another's result lists it in depends_on and
    receives it. Write each sub-task so that its agent can do it without seeing the others.
    Use as few sub-tasks as the work needs, and never more than max_nodes.
    """

    task: str = dspy.InputField(desc="the task to accomplish")
    agents: str = dspy.InputField(
        desc="the available agents, one per line: name: description [capabilities]"
    )
    max_nodes: int = dspy.InputField(desc="the most sub-tasks the plan may have")
    plan: list[SubTask] = dspy.OutputField(desc="the sub-tasks, a directed acyclic graph")


class RepairPlan(dspy.Signature):
    """A plan you wrote for this task was rejected. Write it again, fixing the problem.

    Keep what was right; change only what the problem requires. Every node names exactly
    one agent (or capability) from the list, ids are unique, every dependency is an id of
    the plan, the dependencies form no cycle, and there are at most max_nodes nodes.
    """

    task: str = dspy.InputField(desc="the task to accomplish")
    agents: str = dspy.InputField(
        desc="the available agents, one per line: name: description [capabilities]"
    )
    max_nodes: int = dspy.InputField(desc="the most sub-tasks the plan may have")
    rejected_plan: str = dspy.InputField(desc="the plan that was rejected")
    problem: str = dspy.InputField(desc="why it was rejected")
    plan: list[SubTask] = dspy.OutputField(desc="the corrected sub-tasks")


def describe_agents(agents: Sequence[AgentDefinition]) -> str:
    """One line per agent: ``name: description [capabilities: a, b]``."""
    lines: list[str] = []
    for agent in sorted(agents, key=lambda a: a.name):
        caps = f" [capabilities: {', '.join(agent.capabilities)}]" if agent.capabilities else ""
        lines.append(f"{agent.name}: {' '.join(agent.description.split())}{caps}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PlanAttempt:
    """One answer of the planner: the raw plan and, if it was rejected, why."""

    raw: Any
    problem: str | None


class Planner:
    """Asks the configured DSPy LM for a plan; one repair attempt when it is invalid.

    Call it inside ``dspy.context(lm=...)`` (it runs synchronously: use a thread from
    async code).

    Args:
        agents: The agents a plan may use.
        max_nodes: The most nodes a plan may have.
        on_attempt: Called with each answer (to trace it).
    """

    def __init__(
        self,
        agents: Sequence[AgentDefinition],
        *,
        max_nodes: int,
        on_attempt: Callable[[PlanAttempt], None] | None = None,
    ) -> None:
        self.agents = tuple(agents)
        self.max_nodes = max_nodes
        self._on_attempt = on_attempt
        self.decompose = dspy.ChainOfThought(DecomposeTask)
        self.repair = dspy.ChainOfThought(RepairPlan)

    def _check(self, call: Callable[[], Any]) -> tuple[Plan | None, PlanAttempt]:
        try:
            raw = [step.model_dump() for step in call().plan]
        except AdapterParseError as exc:
            text = str(exc.lm_response or "")[:2000]
            detail = " ".join(exc.message.split())[:600]
            return None, PlanAttempt(text, f"the answer could not be read as a plan: {detail}")
        try:
            plan = parse_plan(raw, self.agents, max_nodes=self.max_nodes)
        except PlanError as exc:
            return None, PlanAttempt(raw, exc.problem)
        return plan, PlanAttempt(raw, None)

    def __call__(self, task: str) -> Plan:
        """Plan ``task``.

        Raises:
            PlanError: The plan was still invalid after the repair attempt.
        """
        agents = describe_agents(self.agents)
        plan, first = self._check(
            lambda: self.decompose(task=task, agents=agents, max_nodes=self.max_nodes)
        )
        self._report(first)
        if plan is not None:
            return plan
        assert first.problem is not None
        rejected = first.raw if isinstance(first.raw, str) else json.dumps(first.raw, indent=1)
        plan, second = self._check(
            lambda: self.repair(
                task=task,
                agents=agents,
                max_nodes=self.max_nodes,
                rejected_plan=rejected,
                problem=first.problem,
            )
        )
        self._report(second)
        if plan is not None:
            return plan
        raise PlanError(
            f"the planner's plan was invalid twice: {first.problem}; after repair: "
            f"{second.problem}",
            rule="a valid plan after one repair",
        )

    def _report(self, attempt: PlanAttempt) -> None:
        if self._on_attempt is not None:
            self._on_attempt(attempt)
