"""The DAG scheduler: parallel branches, inputs from dependencies, retries, skips, cost budget.

The runner here is an in-process :class:`NodeRunner` (the protocol the orchestrator runs nodes
through); the runs through ``dispatch`` and real agents are in ``test_orchestrate_runtime.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from memfun_agent.dispatch import AgentTaskResult
from memfun_agent.orchestrate import (
    NodeRunner,
    OrchestrationLimits,
    Plan,
    PlanNode,
    parse_plan,
    run_plan,
)
from memfun_agent.traces import TraceRecorder

from .test_plan import AGENTS, node

Behaviour = Callable[[PlanNode, Mapping[str, str], int], Awaitable[AgentTaskResult]]


def result(agent: str, answer: str, *, outcome: str = "completed", cost: float = 0.0,
           worker: str = "w1", run_id: str | None = None) -> AgentTaskResult:  # fmt: skip
    return AgentTaskResult(
        task_id="t", agent=agent, run_id=run_id or f"run-{answer}", outcome=outcome,
        answer=answer if outcome == "completed" else "", summary=f"did {answer}", diff="",
        changed_files=(), cost_usd=cost, tokens=10, worker=worker,
        error=None if outcome == "completed" else f"stopped: {outcome}",
    )  # fmt: skip


@dataclass
class LocalRunner:
    """Runs each node in this event loop with a behaviour per node id; logs starts and ends."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict[str, Behaviour])
    log: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    seen_inputs: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])
    calls: dict[str, int] = field(default_factory=dict[str, int])

    async def __call__(self, node: PlanNode, inputs: Mapping[str, str]) -> AgentTaskResult:
        self.calls[node.id] = self.calls.get(node.id, 0) + 1
        self.log.append(("start", node.id))
        self.seen_inputs[node.id] = dict(inputs)
        try:
            behaviour = self.behaviours.get(node.id)
            if behaviour is None:
                return result(node.agent or "?", f"answer of {node.id}")
            return await behaviour(node, inputs, self.calls[node.id])
        finally:
            self.log.append(("end", node.id))


def diamond() -> Plan:
    """Two parallel branches, then a node that needs both."""
    return parse_plan(
        [node("left", "explorer"), node("right", "coder"),
         node("join", "reviewer", ("left", "right"))],
        AGENTS, max_nodes=5,
    )  # fmt: skip


def meeting_point(parties: int) -> Behaviour:
    """Each branch waits until every branch is running: proves they overlap, no timing."""
    barrier = asyncio.Barrier(parties)

    async def behaviour(node: PlanNode, _inputs: Mapping[str, str], _n: int) -> AgentTaskResult:
        async with asyncio.timeout(30):
            await barrier.wait()
        return result(node.agent or "?", f"answer of {node.id}")

    return behaviour


async def test_two_branches_overlap_and_the_join_gets_both_results() -> None:
    meet = meeting_point(2)
    runner = LocalRunner({"left": meet, "right": meet})
    assert isinstance(runner, NodeRunner)
    recorder = TraceRecorder()
    results = await run_plan(diamond(), runner, limits=OrchestrationLimits(), recorder=recorder)

    assert {k: r.status for k, r in results.items()} == dict.fromkeys(
        ("left", "right", "join"), "completed"
    )
    starts = [runner.log.index(("start", n)) for n in ("left", "right")]
    ends = [runner.log.index(("end", n)) for n in ("left", "right")]
    assert max(starts) < min(ends)  # both branches were running at once
    assert runner.log.index(("start", "join")) > max(ends)
    inputs = runner.seen_inputs["join"]
    assert set(inputs) == {"result_left", "result_right"}
    assert "answer of left" in inputs["result_left"]
    assert "by explorer" in inputs["result_left"]
    kinds = [r["kind"] for r in recorder.records]
    assert kinds.count("node_start") == 3
    assert kinds.count("node_end") == 3


async def test_with_one_slot_the_branches_run_one_after_the_other() -> None:
    runner = LocalRunner()
    limits = OrchestrationLimits(max_parallel=1)
    await run_plan(diamond(), runner, limits=limits, recorder=TraceRecorder())
    assert [event for event, _ in runner.log] == ["start", "end"] * 3


async def test_a_failed_node_is_retried_once_and_then_completes() -> None:
    async def flaky(node: PlanNode, _inputs: Mapping[str, str], call: int) -> AgentTaskResult:
        if call == 1:
            return result("coder", "x", outcome="max_iterations", cost=0.5, worker="w1")
        return result("coder", "fixed", cost=0.25, worker="w2")

    runner = LocalRunner({"right": flaky})
    recorder = TraceRecorder()
    results = await run_plan(diamond(), runner, limits=OrchestrationLimits(), recorder=recorder)

    right = results["right"]
    assert right.status == "completed"
    assert right.answer == "fixed"
    assert [a.outcome for a in right.attempts] == ["max_iterations", "completed"]
    assert [a.worker for a in right.attempts] == ["w1", "w2"]
    assert right.cost_usd == 0.75
    assert right.run_ids == ("run-x", "run-fixed")
    retry = [r for r in recorder.records if r["kind"] == "node_retry"]
    assert retry == [{**retry[0], "node": "right", "attempt": 2, "why": "stopped: max_iterations"}]
    assert results["join"].status == "completed"


async def test_partial_failure_skips_the_dependents_and_keeps_what_succeeded() -> None:
    async def broken(node: PlanNode, _inputs: Mapping[str, str], _n: int) -> AgentTaskResult:
        raise ConnectionResetError("the worker's connection dropped")

    plan = parse_plan(
        [node("left", "explorer"), node("right", "coder"),
         node("join", "reviewer", ("left", "right")), node("after", "coder", ("join",))],
        AGENTS, max_nodes=5,
    )  # fmt: skip
    runner = LocalRunner({"right": broken})
    recorder = TraceRecorder()
    results = await run_plan(plan, runner, limits=OrchestrationLimits(), recorder=recorder)

    assert results["left"].status == "completed"
    right = results["right"]
    assert right.status == "failed"
    assert len(right.attempts) == 2
    assert right.error == "ConnectionResetError: the worker's connection dropped"
    assert results["join"].status == "skipped"
    assert results["join"].error == "not run: its dependency 'right' did not complete"
    assert results["after"].status == "skipped"
    assert "'join'" in str(results["after"].error)
    assert "join" not in runner.calls
    errors = [r for r in recorder.records if r["kind"] == "node_error"]
    assert "Traceback" in str(errors[0]["error"])


async def test_no_attempt_starts_once_the_cost_budget_is_spent() -> None:
    async def costly(node: PlanNode, _inputs: Mapping[str, str], _n: int) -> AgentTaskResult:
        return result(node.agent or "?", node.id, outcome="max_tokens", cost=1.0)

    plan = parse_plan([node("a"), node("b", deps=("a",))], AGENTS, max_nodes=3)
    runner = LocalRunner({"a": costly})
    limits = OrchestrationLimits(max_cost_usd=1.5)
    results = await run_plan(plan, runner, limits=limits, recorder=TraceRecorder(),
                             spent=lambda: 0.6)  # fmt: skip
    assert runner.calls == {"a": 1}  # 0.6 (planner) + 1.0 leaves no budget for the retry
    assert results["a"].status == "failed"
    assert results["a"].error == "the cost budget ($1.5) is spent"
    assert results["b"].status == "skipped"


async def test_cancelling_the_run_cancels_the_running_nodes() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def hang(node: PlanNode, _inputs: Mapping[str, str], _n: int) -> AgentTaskResult:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(node.id)
            raise
        raise AssertionError("unreachable")

    runner = LocalRunner({"left": hang})
    recorder = TraceRecorder()
    task = asyncio.create_task(
        run_plan(diamond(), runner, limits=OrchestrationLimits(), recorder=recorder)
    )
    await started.wait()
    task.cancel()
    results = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert cancelled == ["left"]
    assert any(r["kind"] == "node_cancelled" for r in recorder.records)
