"""The executor contract (implemented by memfun-agent) and recorded invocations."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from memfun_runtime.protocols import (
    InvocationOutcome,
    JSONValue,
    SandboxAdapter,
    SkillInvocation,
    SkillRegistry,
)
from memfun_skills._activation import ActivatedSkill, activate_skill
from memfun_skills._discovery import DiscoveredSkill, SkillCatalog
from memfun_skills._router import RouteDecision, SkillRouter, TieBreak
from memfun_skills._scripts import ScriptRunner

__all__ = ["SkillExecutor", "SkillInvoker", "SkillResult", "SkillRun"]


@dataclass(frozen=True, slots=True)
class SkillResult:
    """What an executor reports after following a skill.

    Attributes:
        output: The answer or a summary of what was done.
        outcome: ``success``, ``failure`` (ran, result rejected) or ``error``.
        tokens: LLM tokens spent.
        cost: Cost in US dollars.
        metadata: JSON-serializable details (trace id, files changed, ...).
    """

    output: str
    outcome: InvocationOutcome = "success"
    tokens: int = 0
    cost: float = 0.0
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])


@runtime_checkable
class SkillExecutor(Protocol):
    """Follows an activated skill's instructions for a task (memfun-agent implements it).

    The executor may call only the tools the skill grants plus those its own policy
    allows, and may run the skill's scripts only through ``scripts`` (a sandbox). It
    returns a :class:`SkillResult`; raising means the invocation is recorded as ``error``.
    """

    async def execute(
        self, skill: ActivatedSkill, task: str, *, scripts: ScriptRunner | None
    ) -> SkillResult:
        """Carry out ``task`` following ``skill``."""
        ...


@dataclass(frozen=True, slots=True)
class SkillRun:
    """One invocation: the routing decision, the activated skill, the result, the record."""

    decision: RouteDecision
    skill: ActivatedSkill | None
    result: SkillResult | None
    record: SkillInvocation | None


class SkillInvoker:
    """Routes a task, activates the skill, runs the executor and records the invocation.

    Every invocation (success, failure or error) is recorded in the runtime's
    :class:`~memfun_runtime.protocols.SkillRegistry` with latency, tokens and cost; each
    activated skill's version is published there first.
    """

    def __init__(
        self,
        catalog: SkillCatalog,
        registry: SkillRegistry,
        executor: SkillExecutor,
        *,
        sandbox: SandboxAdapter | None = None,
        tie_break: TieBreak | None = None,
        min_score: float = 0.0,
    ) -> None:
        self._catalog = catalog
        self._registry = registry
        self._executor = executor
        self._scripts = ScriptRunner(sandbox) if sandbox is not None else None
        self._tie_break = tie_break
        self._min_score = min_score
        self._router = SkillRouter(skill.properties for skill in catalog.skills)

    @property
    def router(self) -> SkillRouter:
        """The router over the catalog's skills."""
        return self._router

    async def activate(self, skill: DiscoveredSkill, arguments: str = "") -> ActivatedSkill:
        """Load ``skill`` in full and publish its version to the registry."""
        activated = activate_skill(skill.properties.skill_dir, arguments=arguments)
        await self._registry.publish(
            activated.name,
            activated.version,
            description=activated.properties.description,
            metadata={
                "scope": skill.scope.value,
                "path": str(skill.properties.skill_dir),
                "allowed_tools": list(skill.properties.allowed_tools),
            },
        )
        return activated

    async def route(self, task: str) -> RouteDecision:
        """The routing decision for ``task`` (``/name args`` or ranked, with the threshold).

        Raises:
            NotFoundError: ``/name`` names no known skill.
        """
        return await self._router.route(task, tie_break=self._tie_break, min_score=self._min_score)

    async def invoke(
        self,
        task: str,
        *,
        decision: RouteDecision | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillRun:
        """Run ``task``: ``/name args`` runs that skill, anything else is routed.

        Args:
            task: The task, or ``/name args``.
            decision: A decision :meth:`route` already made for ``task`` (not routed again).
            metadata: Added to the invocation record (``task_kind``: the kind of task, which
                :func:`~memfun_skills.route_penalties` judges outcomes by).

        Returns:
            The run; ``skill`` and ``record`` are ``None`` when no skill was relevant.

        Raises:
            NotFoundError: ``/name`` names no known skill.
            Exception: Whatever the executor raised, after recording it as ``error``.
        """
        if decision is None:
            decision = await self.route(task)
        if decision.chosen is None:
            return SkillRun(decision, None, None, None)
        discovered = self._catalog.require(decision.chosen.name)
        activated = await self.activate(discovered, decision.arguments)
        started = time.perf_counter()
        try:
            result = await self._executor.execute(
                activated, decision.arguments, scripts=self._scripts
            )
        except Exception as exc:
            await self._registry.record_invocation(
                activated.name,
                outcome="error",
                latency=time.perf_counter() - started,
                version=activated.version,
                metadata={
                    **(metadata or {}),
                    "error": f"{type(exc).__name__}: {exc}",
                    "route": decision.method,
                    "score": _score(decision),
                },
            )
            raise
        record = await self._registry.record_invocation(
            activated.name,
            outcome=result.outcome,
            latency=time.perf_counter() - started,
            version=activated.version,
            tokens=result.tokens,
            cost=result.cost,
            metadata={
                **(metadata or {}),
                **result.metadata,
                "route": decision.method,
                "score": _score(decision),
            },
        )
        return SkillRun(decision, activated, result, record)


def _score(decision: RouteDecision) -> float | None:
    """The chosen skill's BM25 score (``None`` for ``/name``, whose score is infinite)."""
    chosen = decision.chosen
    if decision.method == "slash" or chosen is None:
        return None
    return next((round(m.score, 3) for m in decision.matches if m.skill.name == chosen.name), None)
