"""Orchestration: a task decomposed into a DAG of sub-tasks run by agents, merged and checked.

:class:`Orchestrator` asks a typed DSPy signature (:class:`DecomposeTask`) for a plan,
validates it (:func:`parse_plan`; one repair attempt with :class:`RepairPlan`), runs ready
nodes in parallel through a :class:`NodeRunner` (:class:`DispatchRunner` gives them to the
runtime's agents, in this process or on workers), retries failed nodes within
:class:`OrchestrationLimits`, merges the results with :class:`MergeResults` and records
everything as one trace.

Every name is imported on first use: DSPy loads only with the planner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_agent.orchestrate._merge import Merged, MergeResults
    from memfun_agent.orchestrate._orchestrator import Orchestrator
    from memfun_agent.orchestrate._plan import Plan, PlanError, PlanNode, parse_plan
    from memfun_agent.orchestrate._planner import DecomposeTask, Planner, RepairPlan, SubTask
    from memfun_agent.orchestrate._result import (
        NodeAttempt,
        NodeResult,
        NodeRunner,
        NodeStatus,
        OrchestrationLimits,
        OrchestrationOutcome,
        OrchestrationResult,
        TaskResultLike,
    )
    from memfun_agent.orchestrate._runner import ORCHESTRATOR_AGENT, DispatchRunner
    from memfun_agent.orchestrate._scheduler import run_plan

__all__ = [
    "ORCHESTRATOR_AGENT",
    "DecomposeTask",
    "DispatchRunner",
    "MergeResults",
    "Merged",
    "NodeAttempt",
    "NodeResult",
    "NodeRunner",
    "NodeStatus",
    "OrchestrationLimits",
    "OrchestrationOutcome",
    "OrchestrationResult",
    "Orchestrator",
    "Plan",
    "PlanError",
    "PlanNode",
    "Planner",
    "RepairPlan",
    "SubTask",
    "TaskResultLike",
    "parse_plan",
    "run_plan",
]

_LAZY: dict[str, str] = {
    "Merged": "_merge",
    "MergeResults": "_merge",
    "Orchestrator": "_orchestrator",
    "Plan": "_plan",
    "PlanError": "_plan",
    "PlanNode": "_plan",
    "parse_plan": "_plan",
    "DecomposeTask": "_planner",
    "Planner": "_planner",
    "RepairPlan": "_planner",
    "SubTask": "_planner",
    "NodeAttempt": "_result",
    "NodeResult": "_result",
    "NodeRunner": "_result",
    "NodeStatus": "_result",
    "OrchestrationLimits": "_result",
    "OrchestrationOutcome": "_result",
    "OrchestrationResult": "_result",
    "TaskResultLike": "_result",
    "ORCHESTRATOR_AGENT": "_runner",
    "DispatchRunner": "_runner",
    "run_plan": "_scheduler",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'memfun_agent.orchestrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"memfun_agent.orchestrate.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
