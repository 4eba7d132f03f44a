"""``Orchestrator``: plan a task as a DAG, run the nodes on agents, merge and check, one trace."""

# DSPy ships without complete type information; its objects are treated as Any here.
# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from memfun_agent._budget import BudgetMeter, Budgets, Pricing
from memfun_agent._run import RunState, meter_lm
from memfun_agent.definitions import AgentDefinition
from memfun_agent.orchestrate._merge import Merged, merge_results
from memfun_agent.orchestrate._plan import Plan, PlanError
from memfun_agent.orchestrate._planner import PlanAttempt, Planner
from memfun_agent.orchestrate._result import (
    NodeResult,
    NodeRunner,
    OrchestrationLimits,
    OrchestrationOutcome,
    OrchestrationResult,
)
from memfun_agent.orchestrate._scheduler import run_plan
from memfun_agent.traces import RunTrace, TraceRecorder, TraceStore
from memfun_core.errors import ValidationError
from memfun_runtime.protocols import JSONValue

__all__ = ["Orchestrator"]


def _outcome(nodes: Sequence[NodeResult], merged: Merged | None) -> OrchestrationOutcome:
    completed = sum(1 for n in nodes if n.status == "completed")
    if completed == 0:
        return "failed"
    if completed < len(nodes):
        return "partial"
    return "completed" if merged is not None and merged.complete else "incomplete"


def _why(nodes: Sequence[NodeResult], merged: Merged | None, merge_error: str | None) -> str | None:
    problems = [f"{n.node.id} ({n.status}): {n.error}" for n in nodes if n.status != "completed"]
    if merge_error is not None:
        problems.append(f"the merge step failed: {merge_error}")
    elif merged is not None and not merged.complete:
        problems.append(f"the merge check found gaps: {merged.gaps or '(not said)'}")
    return "; ".join(problems) or None


class Orchestrator:
    """Decomposes a task into a plan of sub-tasks, runs them on agents, merges the results.

    The planner (a typed DSPy signature, see :class:`~memfun_agent.orchestrate.Planner`)
    chooses an agent or capability for each node from ``agents``; the nodes run through
    ``runner`` (:class:`~memfun_agent.orchestrate.DispatchRunner` sends them to the runtime's
    agents, in this process or on workers), independent ones in parallel; the merge step
    writes the answer and checks it. The plan, every node attempt (agent, worker, child run
    id, timings, cost) and the total cost are one trace, saved to ``traces``.

    Args:
        agents: The agents a plan may use (name, description, capabilities).
        runner: Runs one node.
        lm: The model of the planner and the merge step (a ``dspy.LM``).
        limits: Node count, attempts, cost, parallelism, node timeout.
        traces: Where the run's trace is stored (``None``: only in the result).
        pricing: Prices for a model DSPy cannot price.
        secret_names: More environment variable names whose values never reach the trace.
        listener: Receives each trace record as it happens (live progress).
    """

    def __init__(
        self,
        agents: Sequence[AgentDefinition],
        runner: NodeRunner,
        *,
        lm: Any,
        limits: OrchestrationLimits | None = None,
        traces: TraceStore | None = None,
        pricing: Pricing | None = None,
        secret_names: Iterable[str] = (),
        listener: Callable[[dict[str, JSONValue]], None] | None = None,
    ) -> None:
        if not agents:
            raise ValidationError(
                "no agents to orchestrate",
                field="agents",
                rule="at least one agent",
                hint="add agent definitions (memfun agent list shows what is found)",
            )
        self.agents = tuple(agents)
        self.runner = runner
        self.limits = limits or OrchestrationLimits()
        self._lm = lm
        self._traces = traces
        self._pricing = pricing
        self._secret_names = tuple(secret_names)
        self._listener = listener

    async def run(
        self,
        task: str,
        *,
        run_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> OrchestrationResult:
        """Plan, run and merge ``task``; return the (possibly partial) result.

        Nothing is raised for a bad plan or failed nodes: the result's ``outcome`` and
        ``error`` say what happened, and the trace is saved either way.

        Args:
            task: What to accomplish.
            run_id: The run's id (default: a new one); give the one the runner's
                :class:`~memfun_agent.dispatch.DispatchParent` names, so that child traces
                link to this run.
            metadata: Stored in the trace.
        """
        recorder = TraceRecorder(run_id, secret_names=self._secret_names, listener=self._listener)
        state = RunState(
            BudgetMeter(Budgets(max_wall_seconds=None), pricing=self._pricing), recorder
        )
        recorder.add(
            "run_start",
            task=task,
            mode="orchestration",
            agents=[a.name for a in self.agents],
            limits=dataclasses.asdict(self.limits),
        )
        plan, error = await asyncio.to_thread(self._plan, task, state)
        nodes: tuple[NodeResult, ...] = ()
        merged: Merged | None = None
        merge_error: str | None = None
        if plan is not None:
            results = await run_plan(
                plan,
                self.runner,
                limits=self.limits,
                recorder=recorder,
                spent=lambda: state.meter.usage.cost_usd,
            )
            nodes = tuple(results[node.id] for node in plan.nodes)
            if any(n.status == "completed" for n in nodes):
                merged, merge_error = await asyncio.to_thread(self._merge, task, nodes, state)
        outcome: OrchestrationOutcome = (
            _outcome(nodes, merged) if plan is not None else "plan_invalid"
        )
        if plan is not None:
            error = _why(nodes, merged, merge_error)
        return await self._finish(task, state, plan, nodes, merged, outcome, error, metadata or {})

    def _plan(self, task: str, state: RunState) -> tuple[Plan | None, str | None]:
        import dspy  # pyright: ignore[reportMissingTypeStubs]

        def report(attempt: PlanAttempt) -> None:
            state.recorder.add("plan_attempt", plan=attempt.raw, problem=attempt.problem)

        planner = Planner(self.agents, max_nodes=self.limits.max_nodes, on_attempt=report)
        adapter = dspy.ChatAdapter(use_json_adapter_fallback=False)
        try:
            with dspy.context(lm=meter_lm(self._lm, "planner", state), adapter=adapter):
                plan = planner(task)
        except PlanError as exc:
            return None, str(exc)
        except Exception as exc:  # the model failed: recorded, the run ends without a plan
            state.recorder.add("planner_error", error=f"{type(exc).__name__}: {exc}")
            return None, f"the planner failed: {type(exc).__name__}: {exc}"
        state.recorder.add("plan", nodes=plan.to_json())
        return plan, None

    def _merge(
        self, task: str, nodes: Sequence[NodeResult], state: RunState
    ) -> tuple[Merged | None, str | None]:
        import dspy  # pyright: ignore[reportMissingTypeStubs]

        adapter = dspy.ChatAdapter(use_json_adapter_fallback=False)
        try:
            with dspy.context(lm=meter_lm(self._lm, "merge", state), adapter=adapter):
                merged = merge_results(task, nodes)
        except Exception as exc:  # recorded; the nodes' results are still returned
            detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:1000]}"
            state.recorder.add("merge_error", error=detail)
            return None, detail
        state.recorder.add("merge", complete=merged.complete, gaps=merged.gaps)
        return merged, None

    async def _finish(  # noqa: PLR0917
        self,
        task: str,
        state: RunState,
        plan: Plan | None,
        nodes: tuple[NodeResult, ...],
        merged: Merged | None,
        outcome: OrchestrationOutcome,
        error: str | None,
        metadata: Mapping[str, JSONValue],
    ) -> OrchestrationResult:
        recorder = state.recorder
        own = state.meter.usage
        cost = own.cost_usd + sum(n.cost_usd for n in nodes)
        tokens = own.tokens + sum(n.tokens for n in nodes)
        wall = state.meter.elapsed()
        diff = "".join(n.diff for n in nodes)
        recorder.add("run_end", outcome=outcome, error=error, cost_usd=cost, tokens=tokens)
        usage: dict[str, JSONValue] = {
            "cost_usd": cost,
            "tokens": tokens,
            "orchestrator_cost_usd": own.cost_usd,
            "orchestrator_tokens": own.tokens,
            "lm_calls": own.lm_calls,
            "nodes": len(nodes),
            "node_attempts": sum(len(n.attempts) for n in nodes),
            "wall_seconds": round(wall, 6),
        }
        trace = RunTrace(
            run_id=recorder.run_id,
            task=str(recorder.clean(task)),
            model=str(getattr(self._lm, "model", type(self._lm).__name__)),
            sub_model="",
            started_at=recorder.started_at,
            ended_at=time.time(),
            outcome=outcome,
            error=None if error is None else str(recorder.clean(error)),
            usage=usage,
            records=tuple(recorder.records),
            metadata={
                "kind": "orchestration",
                "plan": None if plan is None else plan.to_json(),
                "children": [run_id for n in nodes for run_id in n.run_ids],
                "nodes": {n.node.id: n.status for n in nodes},
                **metadata,
            },
        )
        if self._traces is not None:
            await self._traces.save(trace)
        return OrchestrationResult(
            run_id=recorder.run_id,
            task=task,
            outcome=outcome,
            answer=merged.answer if merged is not None else "",
            plan=plan,
            nodes=nodes,
            checked=merged is not None and merged.complete,
            gaps=merged.gaps if merged is not None else "",
            error=error,
            diff=diff,
            cost_usd=cost,
            tokens=tokens,
            wall_seconds=wall,
            trace=trace,
        )
