"""An orchestration plan: a DAG of sub-tasks, each for one agent, parsed and validated."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from memfun_agent.definitions import AgentDefinition
from memfun_core.errors import ValidationError
from memfun_runtime.protocols import JSONValue

__all__ = ["MAX_TASK_CHARS", "Plan", "PlanError", "PlanNode", "parse_plan"]

MAX_TASK_CHARS = 20_000
"""The longest sub-task text a plan may give one agent."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class PlanError(ValidationError):
    """The planner's plan breaks a rule (unknown agent, cycle, missing dependency, size...).

    Attributes:
        problem: The specific problem, in words the planner is shown when asked to repair it.
    """

    def __init__(self, problem: str, *, rule: str) -> None:
        super().__init__(
            problem,
            field="plan",
            rule=rule,
            hint="rephrase the task more concretely, raise the node limit (--max-nodes), or "
            "add an agent that fits (memfun agent list)",
        )
        self.problem = problem


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One sub-task of a plan.

    Attributes:
        id: Unique within the plan (letters, digits, ``-`` and ``_``, at most 40).
        task: What the agent is asked to do.
        agent: The agent's name, or ``None`` when a capability chooses it.
        capability: The capability any agent offering it may serve, or ``None``.
        depends_on: Ids of the nodes whose results this one needs (it starts after them).
    """

    id: str
    task: str
    agent: str | None = None
    capability: str | None = None
    depends_on: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """The agent name, or ``capability:<name>``, for display."""
        return self.agent if self.agent is not None else f"capability:{self.capability}"

    @property
    def context_name(self) -> str:
        """The REPL variable under which a dependent node receives this node's result."""
        return "result_" + self.id.replace("-", "_").lower()

    def to_json(self) -> dict[str, JSONValue]:
        """The node as JSON (traces and ``--json``)."""
        return {
            "id": self.id,
            "task": self.task,
            "agent": self.agent,
            "capability": self.capability,
            "depends_on": list(self.depends_on),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated DAG of sub-tasks, in an order where every node follows its dependencies."""

    nodes: tuple[PlanNode, ...]

    def node(self, node_id: str) -> PlanNode:
        """The node called ``node_id``.

        Raises:
            KeyError: No such node.
        """
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_json(self) -> list[JSONValue]:
        """The plan as a JSON list of nodes."""
        return [node.to_json() for node in self.nodes]


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlanError(f"{key!r} of a node must be a string, not {value!r}", rule="types")
    return value.strip() or None


def _node(raw: Mapping[str, Any], index: int) -> PlanNode:
    node_id = _text(raw, "id")
    if node_id is None or not _ID.match(node_id):
        raise PlanError(
            f"node {index + 1} has the id {raw.get('id')!r}; an id is 1-40 letters, digits, "
            "'-' or '_', starting with a letter or digit",
            rule="node ids",
        )
    task = _text(raw, "task")
    if task is None:
        raise PlanError(f"node {node_id!r} has no task text", rule="every node has a task")
    if len(task) > MAX_TASK_CHARS:
        raise PlanError(
            f"node {node_id!r} has a task of {len(task)} characters (at most {MAX_TASK_CHARS})",
            rule="task size",
        )
    agent, capability = _text(raw, "agent"), _text(raw, "capability")
    if (agent is None) == (capability is None):
        raise PlanError(
            f"node {node_id!r} must name exactly one of 'agent' or 'capability'",
            rule="one agent or capability per node",
        )
    depends: object = raw.get("depends_on") or []
    if not isinstance(depends, list | tuple) or not all(
        isinstance(d, str) for d in cast("Iterable[object]", depends)
    ):
        raise PlanError(
            f"'depends_on' of node {node_id!r} must be a list of node ids", rule="types"
        )
    return PlanNode(node_id, task, agent, capability, tuple(cast("Sequence[str]", depends)))


def _check_targets(nodes: Sequence[PlanNode], agents: Sequence[AgentDefinition]) -> None:
    names = {a.name for a in agents}
    capabilities = {c for a in agents for c in a.capabilities}
    for node in nodes:
        if node.agent is not None and node.agent not in names:
            raise PlanError(
                f"node {node.id!r} names the agent {node.agent!r}, which does not exist; "
                f"the agents are: {', '.join(sorted(names)) or '(none)'}",
                rule="known agents",
            )
        if node.capability is not None and node.capability not in capabilities:
            raise PlanError(
                f"node {node.id!r} asks for the capability {node.capability!r}, which no agent "
                f"offers; the capabilities are: {', '.join(sorted(capabilities)) or '(none)'}",
                rule="known capabilities",
            )


def _check_edges(nodes: Sequence[PlanNode]) -> None:
    seen: dict[str, str] = {}
    for node in nodes:
        key = node.context_name
        if key in seen:
            raise PlanError(
                f"the node id {node.id!r} is used twice (or clashes with {seen[key]!r})",
                rule="unique ids",
            )
        seen[key] = node.id
    ids = {node.id for node in nodes}
    for node in nodes:
        for dep in node.depends_on:
            if dep == node.id:
                raise PlanError(f"node {node.id!r} depends on itself", rule="no cycles")
            if dep not in ids:
                raise PlanError(
                    f"node {node.id!r} depends on {dep!r}, which is not a node of the plan",
                    rule="dependencies exist",
                )


def _ordered(nodes: Sequence[PlanNode]) -> tuple[PlanNode, ...]:
    """The nodes in dependency order (Kahn), or a PlanError naming a cycle."""
    by_id = {node.id: node for node in nodes}
    placed: list[PlanNode] = []
    done: set[str] = set()
    remaining = list(nodes)
    while remaining:
        ready = [n for n in remaining if all(d in done for d in n.depends_on)]
        if not ready:
            raise PlanError(
                "the dependencies form a cycle: " + " -> ".join(_cycle(remaining, by_id)),
                rule="no cycles",
            )
        for node in ready:
            placed.append(node)
            done.add(node.id)
        remaining = [n for n in remaining if n.id not in done]
    return tuple(placed)


def _cycle(remaining: Sequence[PlanNode], by_id: Mapping[str, PlanNode]) -> list[str]:
    left = {n.id for n in remaining}
    path: list[str] = []
    current = remaining[0].id
    while current not in path:
        path.append(current)
        current = next(d for d in by_id[current].depends_on if d in left)
    return [*path[path.index(current) :], current]


def parse_plan(
    raw: Sequence[Mapping[str, Any]] | object,
    agents: Sequence[AgentDefinition],
    *,
    max_nodes: int,
) -> Plan:
    """Check a planner's output and return the plan in dependency order.

    Args:
        raw: A list of ``{"id", "task", "agent" | "capability", "depends_on"}`` mappings.
        agents: The agents a node may name (by name or by one of their capabilities).
        max_nodes: The most nodes a plan may have.

    Raises:
        PlanError: Not a list, empty, too many nodes, a malformed node, an unknown agent or
            capability, a duplicate id, a missing dependency or a cycle.
    """
    if not isinstance(raw, list | tuple):
        raise PlanError("the plan must be a list of nodes", rule="types")
    items = cast("Sequence[object]", raw)
    if not items:
        raise PlanError("the plan has no nodes", rule="at least one node")
    if len(items) > max_nodes:
        raise PlanError(
            f"the plan has {len(items)} nodes; at most {max_nodes} are allowed: merge sub-tasks",
            rule="node limit",
        )
    nodes: list[PlanNode] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PlanError(f"node {index + 1} is not an object", rule="types")
        nodes.append(_node(cast("Mapping[str, Any]", item), index))
    _check_edges(nodes)
    _check_targets(nodes, agents)
    return Plan(_ordered(nodes))
