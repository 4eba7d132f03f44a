"""Running a plan: ready nodes in parallel, dependencies' results as inputs, retries in budget."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from memfun_agent.orchestrate._plan import Plan, PlanNode
from memfun_agent.orchestrate._result import (
    NodeAttempt,
    NodeResult,
    NodeRunner,
    OrchestrationLimits,
    TaskResultLike,
)
from memfun_agent.traces import TraceRecorder

__all__ = ["run_plan"]


@dataclass
class _Spend:
    """Dollars spent so far by the run (planner and merge included) against its limit."""

    limit: float | None
    spent: Callable[[], float]
    nodes: float = 0.0

    def exhausted(self) -> bool:
        return self.limit is not None and self.spent() + self.nodes >= self.limit


def _inputs(node: PlanNode, plan: Plan, done: Mapping[str, NodeResult]) -> dict[str, str]:
    """The dependencies' results, one REPL variable each (``result_<id>``)."""
    inputs: dict[str, str] = {}
    for dep in node.depends_on:
        result = done[dep]
        parts = [f"Sub-task {dep} ({plan.node(dep).task!r}) by {result.agent}:", result.answer]
        if result.summary:
            parts.append(f"Summary: {result.summary}")
        if result.changed_files:
            parts.append("Changed files: " + ", ".join(result.changed_files))
        inputs[plan.node(dep).context_name] = "\n".join(parts)
    return inputs


class _Run:
    def __init__(
        self,
        plan: Plan,
        runner: NodeRunner,
        limits: OrchestrationLimits,
        recorder: TraceRecorder,
        spend: _Spend,
    ) -> None:
        self.plan = plan
        self.runner = runner
        self.limits = limits
        self.recorder = recorder
        self.spend = spend
        self.t0 = time.monotonic()
        self.slots = asyncio.Semaphore(limits.max_parallel or len(plan.nodes))
        self.results: dict[str, NodeResult] = {}

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def _attempt(
        self, node: PlanNode, inputs: Mapping[str, str], attempt: int
    ) -> tuple[NodeAttempt, TaskResultLike | None]:
        async with self.slots:
            started = self.now()
            self.recorder.add(
                "node_start", node=node.id, target=node.target, attempt=attempt, inputs=list(inputs)
            )
            try:
                result = await self.runner(node, inputs)
            except asyncio.CancelledError:
                self.recorder.add("node_cancelled", node=node.id, attempt=attempt)
                raise
            except Exception as exc:  # a failed attempt; the traceback goes to the trace
                self.recorder.add(
                    "node_error", node=node.id, attempt=attempt, error="".join(
                        traceback.format_exception(exc)
                    )
                )  # fmt: skip
                record = NodeAttempt(
                    attempt, "error", None, None, 0.0, 0, f"{type(exc).__name__}: {exc}",
                    started, self.now(),
                )  # fmt: skip
                return record, None
            record = NodeAttempt(
                attempt,
                result.outcome,
                result.run_id,
                result.worker,
                result.cost_usd,
                result.tokens,
                None if result.ok else (result.error or f"the agent stopped: {result.outcome}"),
                started,
                self.now(),
            )
            return record, result

    async def node(self, node: PlanNode) -> NodeResult:
        inputs = _inputs(node, self.plan, self.results)
        attempts: list[NodeAttempt] = []
        last: TaskResultLike | None = None
        for number in range(1, self.limits.max_attempts + 1):
            if self.spend.exhausted():
                reason = f"the cost budget (${self.limits.max_cost_usd}) is spent"
                self.recorder.add("node_not_started", node=node.id, attempt=number, reason=reason)
                return self._failed(node, attempts, last, reason)
            record, result = await self._attempt(node, inputs, number)
            attempts.append(record)
            self.spend.nodes += record.cost_usd
            last = result if result is not None else last
            self.recorder.add("node_end", node=node.id, **record.to_json(), ok=record.error is None)
            if record.error is None and result is not None:
                return NodeResult(
                    node, "completed", result.agent, result.answer, result.summary, result.diff,
                    tuple(result.changed_files), None, tuple(attempts),
                )  # fmt: skip
            if number < self.limits.max_attempts:
                self.recorder.add("node_retry", node=node.id, attempt=number + 1, why=record.error)
        return self._failed(node, attempts, last, attempts[-1].error if attempts else None)

    @staticmethod
    def _failed(
        node: PlanNode, attempts: list[NodeAttempt], last: TaskResultLike | None, why: str | None
    ) -> NodeResult:
        if last is None:
            return NodeResult(node, "failed", error=why, attempts=tuple(attempts))
        return NodeResult(
            node, "failed", last.agent, last.answer, last.summary, last.diff,
            tuple(last.changed_files), why, tuple(attempts),
        )  # fmt: skip

    def skip_blocked(self, pending: list[PlanNode]) -> list[PlanNode]:
        """Mark nodes whose dependency did not complete as skipped; return the rest."""
        left: list[PlanNode] = []
        for node in pending:  # plan order: a skip cascades within one pass
            blocked = [
                d for d in node.depends_on if d in self.results
                and self.results[d].status != "completed"
            ]  # fmt: skip
            if blocked:
                why = f"not run: its dependency {blocked[0]!r} did not complete"
                self.results[node.id] = NodeResult(node, "skipped", error=why)
                self.recorder.add("node_skipped", node=node.id, reason=why)
            else:
                left.append(node)
        return left

    async def run(self) -> dict[str, NodeResult]:
        pending = list(self.plan.nodes)
        running: dict[asyncio.Task[NodeResult], str] = {}
        try:
            while pending or running:
                pending = self.skip_blocked(pending)
                for node in [n for n in pending if all(d in self.results for d in n.depends_on)]:
                    pending.remove(node)
                    running[asyncio.create_task(self.node(node), name=f"node-{node.id}")] = node.id
                if not running:
                    continue
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    self.results[running.pop(task)] = task.result()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        return self.results


async def run_plan(
    plan: Plan,
    runner: NodeRunner,
    *,
    limits: OrchestrationLimits,
    recorder: TraceRecorder,
    spent: Callable[[], float] = lambda: 0.0,
) -> dict[str, NodeResult]:
    """Run every node of ``plan`` once its dependencies completed; return results by id.

    Ready nodes run at once (up to ``limits.max_parallel``); each gets its dependencies'
    results as inputs. A failed attempt (the runner raised, or the agent did not complete)
    is retried until ``limits.max_attempts``; no attempt starts once ``limits.max_cost_usd``
    is spent (``spent()`` adds what the run spent outside the nodes). A node whose
    dependency did not complete is skipped with the reason. Cancelling the call cancels
    every running node.

    Args:
        plan: A validated plan.
        runner: Runs one node.
        limits: Attempts, cost, parallelism.
        recorder: The orchestrated run's trace (``node_start``, ``node_end``, ``node_retry``,
            ``node_skipped``... records).
        spent: Dollars the run spent besides the nodes (the planner).
    """
    return await _Run(plan, runner, limits, recorder, _Spend(limits.max_cost_usd, spent)).run()
