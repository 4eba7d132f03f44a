"""Plans are validated (unknown agents, cycles, missing dependencies, size) and repaired once."""

from __future__ import annotations

from typing import Any

import dspy  # pyright: ignore[reportMissingTypeStubs]
import pytest

from memfun_agent.definitions import AgentDefinition
from memfun_agent.orchestrate import PlanError, Planner, parse_plan
from memfun_agent.testing import ScriptedLM

AGENTS = (
    AgentDefinition("explorer", "Reads code and reports what it finds", capabilities=("read",)),
    AgentDefinition("coder", "Writes and changes code", capabilities=("write",)),
    AgentDefinition("reviewer", "Reviews changes for bugs"),
)


def node(node_id: str, agent: str = "coder", deps: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": node_id, "agent": agent, "task": f"do {node_id}", "depends_on": list(deps)}


def test_a_valid_plan_is_ordered_so_that_every_node_follows_its_dependencies() -> None:
    raw = [node("review", "reviewer", ("a", "b")), node("b"), node("a", "explorer")]
    plan = parse_plan(raw, AGENTS, max_nodes=5)
    order = [n.id for n in plan.nodes]
    assert order.index("review") > order.index("a")
    assert order.index("review") > order.index("b")
    assert plan.node("review").depends_on == ("a", "b")
    capability = parse_plan([{"id": "x", "capability": "read", "task": "t"}], AGENTS, max_nodes=1)
    assert capability.nodes[0].target == "capability:read"


@pytest.mark.parametrize(
    ("raw", "rule", "words"),
    [
        ([node("a", "wizard")], "known agents", "'wizard', which does not exist"),
        (
            [{"id": "a", "capability": "fly", "task": "t"}],
            "known capabilities",
            "capability 'fly'",
        ),
        ([node("a", deps=("b",)), node("b", deps=("a",))], "no cycles", "cycle: a -> b -> a"),
        ([node("a", deps=("a",))], "no cycles", "depends on itself"),
        ([node("a", deps=("ghost",))], "dependencies exist", "depends on 'ghost'"),
        ([node(f"n{i}") for i in range(4)], "node limit", "4 nodes; at most 3"),
        ([node("a"), node("a")], "unique ids", "used twice"),
        ([node("a-b"), node("a_b")], "unique ids", "clashes"),
        ([], "at least one node", "no nodes"),
        ("do everything", "types", "must be a list"),
        ([{"id": "a", "agent": "coder", "capability": "read", "task": "t"}], "one agent", ""),
        ([{"id": "../x", "agent": "coder", "task": "t"}], "node ids", "'../x'"),
        ([{"id": "a", "agent": "coder", "task": "  "}], "every node has a task", ""),
        ([{"id": "a", "agent": "coder", "task": "t", "depends_on": "b"}], "types", ""),
    ],
)
def test_an_invalid_plan_is_refused_with_the_specific_problem(
    raw: object, rule: str, words: str
) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(raw, AGENTS, max_nodes=3)
    assert caught.value.rule.startswith(rule)
    assert words in caught.value.problem
    assert caught.value.hint


def test_a_cycle_deeper_in_the_graph_is_named() -> None:
    raw = [node("start"), node("x", deps=("start", "z")), node("y", deps=("x",)),
           node("z", deps=("y",))]  # fmt: skip
    with pytest.raises(PlanError, match="cycle: x -> z -> y -> x"):
        parse_plan(raw, AGENTS, max_nodes=10)


def plan_reply(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"reasoning": "split it", "plan": list(nodes)}


def test_the_planner_sees_the_agents_and_repairs_the_specific_problem_once() -> None:
    lm = ScriptedLM(
        [
            plan_reply(node("a", "wizard")),
            plan_reply(node("a", "explorer"), node("b", "coder", ("a",))),
        ]
    )
    seen: list[object] = []
    planner = Planner(AGENTS, max_nodes=4, on_attempt=lambda a: seen.append(a.problem))
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)):
        plan = planner("add a feature")
    assert [n.id for n in plan.nodes] == ["a", "b"]
    first, repair = lm.prompts[0].text, lm.prompts[1].text
    assert "explorer: Reads code and reports what it finds [capabilities: read]" in first
    assert "reviewer: Reviews changes for bugs" in first
    assert "'wizard', which does not exist" in repair
    assert '"agent": "wizard"' in repair  # the rejected plan is shown back
    assert len(seen) == 2
    assert seen[1] is None


def test_a_plan_still_invalid_after_the_repair_is_an_error_naming_both_problems() -> None:
    lm = ScriptedLM(["this is not a plan", plan_reply(node("a", deps=("a",)))])
    planner = Planner(AGENTS, max_nodes=4)
    with (
        dspy.context(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False)),
        pytest.raises(PlanError) as caught,
    ):
        planner("add a feature")
    message = str(caught.value)
    assert "could not be read as a plan" in message
    assert "depends on itself" in message
    assert "could not be read as a plan" in lm.prompts[1].text
    assert lm.remaining == 0
