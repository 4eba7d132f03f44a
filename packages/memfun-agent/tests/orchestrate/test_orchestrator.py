"""The orchestrated run: plan, nodes, merge and check, partial failure, one trace in the runtime."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfun_agent.dispatch import AgentTaskResult
from memfun_agent.orchestrate import OrchestrationLimits, Orchestrator, PlanNode
from memfun_agent.testing import CHARS_PER_TOKEN, ScriptedLM
from memfun_agent.traces import TraceStore
from memfun_runtime import RuntimeBuilder

from .test_plan import AGENTS, node, plan_reply
from .test_scheduler import LocalRunner, result

DIAMOND = plan_reply(
    node("left", "explorer"), node("right", "coder"), node("join", "reviewer", ("left", "right"))
)


def merge_reply(answer: str, *, complete: bool = True, gaps: str = "") -> dict[str, Any]:
    return {"reasoning": "combine", "answer": answer, "complete": complete, "gaps": gaps}


async def test_an_orchestrated_run_is_one_trace_with_plan_nodes_children_and_cost(
    tmp_path: Path,
) -> None:
    lm = ScriptedLM([DIAMOND, merge_reply("All done: left, right, join.")])
    runner = LocalRunner()
    seen: list[str] = []
    async with RuntimeBuilder().sqlite(tmp_path / "data").build() as runtime:
        store = TraceStore(runtime)
        orchestrator = Orchestrator(
            AGENTS, runner, lm=lm, traces=store, listener=lambda r: seen.append(str(r["kind"]))
        )
        outcome = await orchestrator.run("build the feature", run_id="orch-1")
        stored = await store.load("orch-1")

    assert outcome.outcome == "completed"
    assert outcome.checked
    assert outcome.answer == "All done: left, right, join."
    assert [n.status for n in outcome.nodes] == ["completed"] * 3
    assert stored is not None
    assert stored == outcome.trace
    assert stored.outcome == "completed"
    assert stored.metadata["kind"] == "orchestration"
    assert stored.metadata["children"] == ["run-answer of left", "run-answer of right",
                                           "run-answer of join"]  # fmt: skip
    assert stored.of_kind("plan")[0]["nodes"] == [n.to_json() for n in outcome.plan.nodes]  # type: ignore[union-attr]
    ends = stored.of_kind("node_end")
    assert {e["node"]: e["worker"] for e in ends} == dict.fromkeys(("left", "right", "join"), "w1")
    assert all(float(e["ended"]) >= float(e["started"]) for e in ends)  # type: ignore[arg-type]
    planner_tokens = sum(
        -(-len(p.text) // CHARS_PER_TOKEN) - (-len(p.reply) // CHARS_PER_TOKEN) for p in lm.prompts
    )
    assert outcome.tokens == planner_tokens + 3 * 10
    assert stored.usage["tokens"] == outcome.tokens
    assert stored.usage["node_attempts"] == 3
    assert [k for k in seen if k.startswith(("plan", "merge", "run_"))] == [
        "run_start", "plan_attempt", "plan", "merge", "run_end"
    ]  # fmt: skip
    assert '"id": "join"' in lm.prompts[1].text  # the merge step reads the results
    assert "answer of join" in lm.prompts[1].text


async def test_partial_failure_returns_what_succeeded_and_what_failed_and_why() -> None:
    async def refuses(node: PlanNode, _inputs: Mapping[str, str], _n: int) -> AgentTaskResult:
        return result("coder", "", outcome="max_wall_time", cost=0.01)

    lm = ScriptedLM([DIAMOND, merge_reply("Left found X; right failed.", complete=False,
                                          gaps="the change was not made")])  # fmt: skip
    orchestrator = Orchestrator(AGENTS, LocalRunner({"right": refuses}), lm=lm)
    outcome = await orchestrator.run("build the feature")

    assert outcome.outcome == "partial"
    assert [(n.node.id, n.status) for n in outcome.nodes] == [
        ("left", "completed"), ("right", "failed"), ("join", "skipped")
    ]  # fmt: skip
    assert outcome.answer == "Left found X; right failed."
    assert not outcome.checked
    assert outcome.error is not None
    assert "right (failed): stopped: max_wall_time" in outcome.error
    assert "join (skipped): not run: its dependency 'right' did not complete" in outcome.error
    assert "the merge check found gaps: the change was not made" in outcome.error
    assert outcome.cost_usd == 0.02  # both attempts of the failed node count
    data = outcome.to_json()
    assert data["outcome"] == "partial"
    assert [n["status"] for n in data["nodes"]] == ["completed", "failed", "skipped"]  # type: ignore[index]
    assert '"status": "failed"' in lm.prompts[1].text


async def test_a_merge_check_that_finds_gaps_makes_the_run_incomplete() -> None:
    lm = ScriptedLM([DIAMOND, merge_reply("Partly.", complete=False, gaps="no tests")])
    outcome = await Orchestrator(AGENTS, LocalRunner(), lm=lm).run("t")
    assert outcome.outcome == "incomplete"
    assert outcome.gaps == "no tests"


async def test_an_invalid_plan_after_the_repair_ends_the_run_without_running_a_node(
    tmp_path: Path,
) -> None:
    lm = ScriptedLM([plan_reply(node("a", "wizard")), plan_reply(node("a", "sorcerer"))])
    runner = LocalRunner()
    async with RuntimeBuilder().sqlite(tmp_path / "data").build() as runtime:
        store = TraceStore(runtime)
        outcome = await Orchestrator(AGENTS, runner, lm=lm, traces=store).run("t")
        stored = await store.load(outcome.run_id)
    assert outcome.outcome == "plan_invalid"
    assert outcome.plan is None
    assert runner.calls == {}
    assert outcome.error is not None
    assert "'wizard'" in outcome.error
    assert "'sorcerer'" in outcome.error
    assert stored is not None
    assert stored.outcome == "plan_invalid"
    assert [a["problem"] is not None for a in stored.of_kind("plan_attempt")] == [True, True]


async def test_no_node_and_no_merge_start_once_the_planner_spent_the_budget() -> None:
    lm = ScriptedLM([DIAMOND])
    runner = LocalRunner()
    limits = OrchestrationLimits(max_cost_usd=1e-9)
    expensive = Orchestrator(AGENTS, runner, lm=lm, limits=limits, pricing=_pricing())
    outcome = await expensive.run("t")
    assert runner.calls == {}
    assert outcome.outcome == "failed"
    assert lm.remaining == 0  # no merge call either


def _pricing() -> Any:
    from memfun_agent import Pricing

    return Pricing(input_usd_per_mtok=3.0, output_usd_per_mtok=15.0)
