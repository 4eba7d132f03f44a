"""``DispatchRunner``: a node runs as a task given to the runtime's agents with ``dispatch``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from memfun_agent.dispatch import DEFAULT_MAX_DEPTH, AgentTaskResult, DispatchParent, dispatch
from memfun_agent.orchestrate._plan import PlanNode

if TYPE_CHECKING:
    from memfun_runtime import Runtime

__all__ = ["ORCHESTRATOR_AGENT", "DispatchRunner"]

ORCHESTRATOR_AGENT = "orchestrator"
"""The name the orchestrated run delegates as (a node may never address it: a cycle)."""


class DispatchRunner:
    """Runs each node with :func:`~memfun_agent.dispatch.dispatch` on ``runtime``'s agents.

    The task goes to the TaskQueue, where a :class:`~memfun_agent.dispatch.DefinedAgent` of
    the node's agent (or of one offering its capability) leases it: in this process on
    T0/T1, or in any worker process on the same tier. A worker that dies mid-node loses its
    lease and another leases the task again; each retry is a new task. The child's trace
    names ``run_id`` as its parent.

    Args:
        runtime: A started runtime.
        run_id: The orchestrated run's id (pass the same to ``Orchestrator.run``).
        timeout: Seconds one attempt may take (``None``: no limit); the child is cancelled
            after it.
        max_depth: Delegation levels allowed below the orchestrated run.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        run_id: str,
        timeout: float | None = None,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.runtime = runtime
        self.parent = DispatchParent(
            run_id=run_id,
            agent=ORCHESTRATOR_AGENT,
            chain=(ORCHESTRATOR_AGENT,),
            max_depth=max_depth,
        )
        self.timeout = timeout

    async def __call__(self, node: PlanNode, inputs: Mapping[str, str]) -> AgentTaskResult:
        """Dispatch ``node`` with its dependencies' results as REPL variables; wait for it."""
        return await dispatch(
            self.runtime,
            node.task,
            agent=node.agent,
            capability=node.capability,
            context=inputs,
            parent=self.parent,
            timeout=self.timeout,
        )
