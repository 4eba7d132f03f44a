"""``DefinedAgent``: an agent definition run as a runtime agent that leases its tasks."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from memfun_agent._budget import Budgets
from memfun_agent.definitions._model import AgentDefinition
from memfun_agent.definitions._tool import add_agent_validate_tool
from memfun_agent.dispatch._delegate import Children, delegate_tools
from memfun_agent.dispatch._dispatch import DEFINED_AGENT_KIND
from memfun_agent.dispatch._guard import (
    definition_guard,
    offers_agent_validate,
    tool_filter,
)
from memfun_agent.dispatch._preload import agent_outcome, preload_skills, record_preloaded
from memfun_agent.dispatch._records import (
    DEFAULT_MAX_DEPTH,
    AgentTaskResult,
    DispatchParent,
    TaskPayload,
    cancel_key,
    failed,
    queue_of,
    started_key,
)
from memfun_agent.tools import ToolBridge
from memfun_core.config import AgentsConfig
from memfun_core.errors import MemfunError
from memfun_runtime.protocols import JSONValue, ReplSandbox, SkillRegistry
from memfun_runtime.worker import Job, TaskWorker
from memfun_skills import ActivatedSkill

if TYPE_CHECKING:
    from memfun_agent._agent import AgentResult, RLMAgent

__all__ = [
    "AgentSetup",
    "DefinedAgent",
    "defined_agent",
    "offers_agent_validate",
    "tool_filter",
]

log = logging.getLogger("memfun_agent.dispatch")

_BUDGET_FIELDS = (
    "max_iterations",
    "max_llm_calls",
    "max_tokens",
    "max_cost_usd",
    "max_wall_seconds",
)
_CANCEL_POLL = 0.2


@dataclass(frozen=True, slots=True)
class AgentSetup:
    """What every :class:`DefinedAgent` of a process shares: models, tools, sandbox, limits.

    Attributes:
        workspace: The repository the agents work in.
        lm: Builds the main model from a definition's ``model`` (``None``: the configured one).
        tools: Builds the full tool bridge once per agent instance (the agent closes it);
            each run sees it filtered to its definition's tools.
        sandbox: Makes the REPL's sandbox (default: ``LocalSandbox``).
        budgets: The configured budgets, overridden field by field by a definition's own.
        skills: Activates a skill a definition preloads (``skills:``), by name; its
            instructions join the agent's, its use is recorded (see ``_preload``).
        max_depth: Delegation levels allowed below a top-level task.
        delegate_timeout: Seconds a run waits for a delegated child (``None``: no limit).
        agent_options: More keyword arguments of :class:`~memfun_agent.RLMAgent` (verifier,
            limits, network, pricing, secret_names, listener...).
        store_traces: Whether runs store their traces through the runtime.
        agents: ``[agents]``: whether runs read the project's ``AGENTS.md`` and how many
            bytes of it, and the model aliases ``agent_validate`` resolves.
        after_run: Called with the task and the result when a run ends, before its result
            record is returned (the CLI extracts memory learnings there).
    """

    workspace: Path
    lm: Callable[[str | None], Any]
    tools: Callable[[], ToolBridge]
    sandbox: Callable[[], ReplSandbox] | None = None
    budgets: Budgets = field(default_factory=Budgets)
    skills: Callable[[str], ActivatedSkill] | None = None
    max_depth: int = DEFAULT_MAX_DEPTH
    delegate_timeout: float | None = None
    agent_options: Mapping[str, Any] = field(default_factory=dict[str, Any])
    store_traces: bool = True
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    after_run: Callable[[str, AgentResult], Awaitable[None]] | None = None

    def budgets_for(self, definition: AgentDefinition) -> Budgets:
        """The configured budgets with the definition's limits laid over them.

        A file's budgets (project, user or built-in scope) may only tighten the configured
        ones: ``max-cost-usd: 1000`` in a cloned repository's agent stays at
        ``[llm.budgets] max_cost_usd``. An inline definition (built in code) is trusted.
        """
        own = definition.budgets
        overrides: dict[str, Any] = {}
        for name in _BUDGET_FIELDS:
            value = getattr(own, name)
            if value is None:
                continue
            configured = getattr(self.budgets, name)
            if definition.scope != "inline" and configured is not None and value > configured:
                log.warning(
                    "agent %s: %s %s capped at the configured %s",
                    definition.name, name, value, configured,
                )  # fmt: skip
                value = configured
            overrides[name] = value
        return dataclasses.replace(self.budgets, **overrides)

    def project_instructions_bytes(self) -> int | None:
        """The byte budget of a run's project instructions (``None``: turned off)."""
        agents = self.agents
        return agents.project_instructions_bytes if agents.project_instructions else None


async def _handle(job: Job) -> JSONValue:
    worker = job.worker
    if not isinstance(worker, DefinedAgent):
        raise TypeError(f"{type(worker).__name__} is not a DefinedAgent")
    return await worker.run_task(job)


class DefinedAgent(TaskWorker):
    """Runs an :class:`AgentDefinition` on the runtime (build one with :func:`defined_agent`).

    It registers under the definition's name with its capabilities, leases tasks from the
    queue ``agents.<name>`` (see :func:`~memfun_agent.dispatch.dispatch`) and runs each with
    an :class:`~memfun_agent.RLMAgent`: the definition's instructions in the system prompt,
    its tools (the setup's bridge filtered by :func:`tool_filter`, plus ``delegate``), its
    preloaded skills, model and budgets. The result record is the task's result; the trace
    is stored through the runtime with the parent's run id in its metadata. A cancellation
    request (the parent's timeout or cancellation) stops the run before its next step and
    cancels the run's own children. The same class runs in-process and in worker processes.
    """

    definition: ClassVar[AgentDefinition]
    setup: ClassVar[AgentSetup]

    def __init__(self) -> None:
        super().__init__()
        self._bridge: ToolBridge | None = None
        self._bridge_lock = asyncio.Lock()

    def metadata(self) -> dict[str, Any]:
        """Registry metadata: the marker dispatch looks for, and the description."""
        return {
            **super().metadata(),
            "kind": DEFINED_AGENT_KIND,
            "description": self.definition.description[:500],
        }

    async def on_stop(self) -> None:
        """Close the tool bridge."""
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            await asyncio.to_thread(bridge.close)

    async def _tools(self) -> ToolBridge:
        async with self._bridge_lock:
            if self._bridge is None:
                self._bridge = await asyncio.to_thread(self.setup.tools)
            return self._bridge

    async def run_task(self, job: Job) -> JSONValue:
        """Run one leased task and return its result record."""
        name = self.agent_name()
        try:
            payload = TaskPayload.from_json(job.payload)
        except MemfunError as exc:
            return failed(job.task_id, name, "refused", str(exc)).to_json()
        if name in payload.chain:
            cycle = " -> ".join((*payload.chain, name))
            return failed(
                job.task_id, name, "refused", f"delegation cycle refused: {cycle}"
            ).to_json()
        request = await self.state.get(cancel_key(job.task_id))
        if request is not None:
            why = _why(request.value)
            return failed(
                job.task_id, name, "cancelled", f"cancelled before it started ({why})",
                worker=self.instance_id,
            ).to_json()  # fmt: skip
        await self.state.set(
            started_key(job.task_id),
            {"worker": self.instance_id, "pid": os.getpid(), "attempt": job.attempt,
             "agent": name, "at": time.time()},
            ttl=self.result_ttl,
        )  # fmt: skip
        children = Children()
        agent = await self._agent(payload, children)
        try:
            skills, preloaded = await preload_skills(
                self.skills, name, self.definition.skills, self.setup.skills
            )
            result = await self._supervise(job.task_id, agent, payload, children, preloaded)
            tools = agent.bridge.names
        finally:
            agent.close()
        await record_agent_outcome(self.skills, name, result)
        await record_preloaded(self.skills, name, skills, result, tools)
        if self.setup.after_run is not None:
            await self.setup.after_run(payload.task, result)
        return self._record(job.task_id, result).to_json()

    async def _agent(self, payload: TaskPayload, children: Children) -> RLMAgent:
        from memfun_agent._agent import RLMAgent
        from memfun_agent.traces import TraceStore

        definition, setup = self.definition, self.setup
        validates = offers_agent_validate(definition)
        guard = definition_guard(
            definition, setup.workspace, validate_agents=validates, config=setup.agents
        )
        view = (await self._tools()).derive(tool_filter(definition), guard=guard)
        if validates:
            add_agent_validate_tool(view, setup.workspace, config=setup.agents)
        holder: list[RLMAgent] = []

        def parent() -> DispatchParent:
            state = holder[0].run_state if holder else None
            return DispatchParent(
                run_id=state.recorder.run_id if state is not None else None,
                agent=definition.name,
                depth=payload.depth,
                chain=payload.chain,
                delegates=definition.delegates,
                max_depth=setup.max_depth,
            )

        tools = delegate_tools(
            runtime=self.runtime,
            home=asyncio.get_running_loop(),
            parent=parent,
            state=lambda: holder[0].run_state if holder else None,
            children=children,
            timeout=setup.delegate_timeout,
            allowed=definition.delegates,
        )
        for spec, handler in tools:
            view.add(spec, handler)

        def build() -> RLMAgent:
            return RLMAgent(
                setup.workspace,
                lm=setup.lm(definition.model),
                sandbox=setup.sandbox,
                bridge=view,
                budgets=setup.budgets_for(definition),
                traces=TraceStore(self.runtime) if setup.store_traces else None,
                instructions=definition.instructions,
                project_instructions=setup.project_instructions_bytes(),
                **setup.agent_options,
            )

        agent = await asyncio.to_thread(build)
        holder.append(agent)
        return agent

    async def _supervise(
        self,
        task_id: str,
        agent: RLMAgent,
        payload: TaskPayload,
        children: Children,
        preloaded: str,
    ) -> AgentResult:
        metadata: dict[str, JSONValue] = {
            "agent": self.definition.name,
            "task_id": task_id,
            "worker": self.instance_id,
            "depth": payload.depth,
            "parent_run_id": payload.parent_run_id,
            "parent_agent": payload.parent_agent,
        }
        run = asyncio.create_task(
            agent.run(
                payload.task,
                context=payload.context,
                skill_instructions=preloaded,
                metadata=metadata,
            )
        )
        watcher = asyncio.create_task(self._watch(task_id, agent, children))
        try:
            return await asyncio.shield(run)
        except asyncio.CancelledError:
            # The worker is stopping: stop the run and its children; the task goes back.
            agent.cancel("worker_stopping", "the worker running this task is stopping")
            children.cancel_all()
            raise
        finally:
            watcher.cancel()

    async def _watch(self, task_id: str, agent: RLMAgent, children: Children) -> None:
        key = cancel_key(task_id)
        while True:
            await asyncio.sleep(_CANCEL_POLL)
            request = await self.state.get(key)
            if request is None:
                continue
            why = _why(request.value)
            log.info("task %s of %s: cancel requested (%s)", task_id, self.agent_name(), why)
            children.cancel_all()
            while not agent.cancel(*_reason(request.value)):  # noqa: ASYNC110
                await asyncio.sleep(_CANCEL_POLL)  # the run has not started yet
            return

    def _record(self, task_id: str, result: AgentResult) -> AgentTaskResult:
        usage = result.usage
        error = result.error
        if result.outcome == "cancelled":
            cancels = result.trace.of_kind("cancel")
            if cancels:
                error = f"cancelled ({cancels[-1].get('reason')}): {cancels[-1].get('detail')}"
        return AgentTaskResult(
            task_id=task_id,
            agent=self.agent_name(),
            run_id=result.run_id,
            outcome=result.outcome,
            answer=result.answer,
            summary=result.summary,
            diff=result.diff,
            changed_files=result.changed_files,
            cost_usd=usage.cost_usd,
            tokens=usage.tokens,
            error=error,
            worker=self.instance_id,
            usage={**dataclasses.asdict(usage), "tokens": usage.tokens},
        )


async def record_agent_outcome(registry: SkillRegistry, name: str, result: AgentResult) -> None:
    """Record an agent run's outcome as invocation ``agent.<name>`` (``memfun skill stats``).

    Skill names have no dots, so ``agent.`` never collides with a skill. Completed with
    passing (or no) checks is a success; a model, sandbox or internal error an error.
    """
    usage = result.usage
    await registry.record_invocation(
        f"agent.{name}",
        outcome=agent_outcome(result),
        latency=usage.wall_seconds,
        tokens=usage.tokens,
        cost=usage.cost_usd,
        metadata={"kind": "agent", "run_id": result.run_id, "outcome": result.outcome},
    )


def _reason(value: JSONValue) -> tuple[str, str]:
    doc = cast("dict[str, JSONValue]", value) if isinstance(value, dict) else {}
    return str(doc.get("reason") or "cancelled"), str(doc.get("detail") or "")


def _why(value: JSONValue) -> str:
    reason, detail = _reason(value)
    return f"{reason}: {detail}" if detail else reason


def defined_agent(
    definition: AgentDefinition,
    setup: AgentSetup,
    *,
    concurrency: int = 1,
    visibility_timeout: float = 30.0,
) -> type[DefinedAgent]:
    """A :class:`DefinedAgent` class for ``definition``; add it to a runtime.

    Example:
        >>> runtime = RuntimeBuilder().sqlite(".memfun/runtime.db").build()  # doctest: +SKIP
        >>> runtime.add_agent(defined_agent(reviewer, setup))  # doctest: +SKIP

    Args:
        definition: The agent.
        setup: Models, tools, sandbox and limits shared by the process's agents.
        concurrency: Tasks run at once by one instance.
        visibility_timeout: Lease seconds (extended while a run goes on); a task whose
            worker died is leased again by another after at most this long.
    """
    namespace: dict[str, Any] = {
        "name": definition.name,
        "capabilities": frozenset(definition.capabilities),
        "handler": staticmethod(_handle),
        "queues": (queue_of(definition.name),),
        "concurrency": max(1, concurrency),
        "visibility_timeout": visibility_timeout,
        "definition": definition,
        "setup": setup,
    }
    class_name = "DefinedAgent_" + definition.name.replace("-", "_")
    return type(class_name, (DefinedAgent,), namespace)
