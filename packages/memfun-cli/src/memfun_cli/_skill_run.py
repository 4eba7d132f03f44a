"""One path for skills: ``memfun /name``, chat's ``/name``, the task commands and MCP.

A run either names a skill (``/name args``), or lets the router pick the skill whose
description fits the task best (above ``[skills] min_score``), or uses none. A chosen skill
runs through :class:`memfun_agent.AgentSkillExecutor` driven by
:class:`memfun_skills.SkillInvoker`: its ``allowed-tools`` grants applied, its scripts run in
the sandbox, the invocation recorded in the runtime's ``SkillRegistry`` with outcome, cost and
duration. The choice is announced as a progress event and stored in the run's trace metadata.

Heavy modules (the agent, the runtime) are imported by the callers; this module only uses
the objects they pass in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memfun_core.config import MemfunConfig
from memfun_core.errors import InternalError

if TYPE_CHECKING:
    from memfun_agent import AgentResult, RLMAgent
    from memfun_runtime import Runtime
    from memfun_runtime.protocols import JSONValue
    from memfun_skills import RouteDecision, SkillCatalog

__all__ = ["SkillRequest", "run_with_skills", "skill_event"]


@dataclass(frozen=True, slots=True)
class SkillRequest:
    """Which skill a run uses.

    Attributes:
        name: The skill named by ``/name`` (``None``: let the router choose, or none).
        arguments: The text after ``/name``.
        auto: Whether the router may choose a skill for a plain task (``--no-skills``: no).
    """

    name: str | None = None
    arguments: str = ""
    auto: bool = True


def skill_event(decision: RouteDecision) -> dict[str, Any]:
    """The progress event announcing a routing decision (``kind: skill``)."""
    chosen = decision.chosen
    event: dict[str, Any] = {
        "kind": "skill",
        "name": chosen.name if chosen is not None else None,
        "method": decision.method,
        "score": _score_of(decision),
        "candidates": [
            [m.skill.name, round(m.score, 2)]
            for m in decision.matches[:3]
            if decision.method != "slash"  # a named skill's score is infinite
        ],
    }
    if decision.note:
        event["note"] = decision.note
    return event


def _score_of(decision: RouteDecision) -> float | None:
    chosen = decision.chosen
    if chosen is None or decision.method == "slash":
        return None
    return next((round(m.score, 2) for m in decision.matches if m.skill.name == chosen.name), None)


def _trace_metadata(decision: RouteDecision) -> dict[str, JSONValue]:
    event = skill_event(decision)
    return {
        "skill_route": {
            "method": decision.method,
            "chosen": event["name"],
            "score": event["score"],
            "candidates": event["candidates"],
            "note": decision.note,
        }
    }


async def run_with_skills(
    config: MemfunConfig,
    runtime: Runtime,
    agent: RLMAgent,
    task: str,
    request: SkillRequest,
    *,
    context: Mapping[str, str] | None = None,
    metadata: Mapping[str, JSONValue] | None = None,
    announce: Callable[[dict[str, Any]], None] | None = None,
    catalog: SkillCatalog | None = None,
) -> AgentResult:
    """Run ``task`` with ``agent``, through the skill executor when a skill applies.

    Args:
        config: The loaded configuration (``[skills]`` and ``[sandbox]``).
        runtime: The started runtime (its ``SkillRegistry`` records the invocation).
        agent: The agent to run (its listener, traces and budgets are used).
        task: The task (for ``/name``: the task shown when no arguments are given).
        request: ``/name`` and whether the router may choose.
        context: More REPL variables (a chat's ``conversation``).
        metadata: More trace metadata (a chat's session id).
        announce: Receives the ``skill`` progress event when a skill is chosen.
        catalog: The discovered skills (default: discovered from ``config``).

    Raises:
        NotFoundError: ``/name`` names no known skill (close names are suggested).
    """
    from memfun_agent import AgentSkillExecutor
    from memfun_runtime.sandboxes import LocalSandbox
    from memfun_skills import SkillInvoker, SkillRouter, discover_from_config, route_penalties

    extra: dict[str, JSONValue] = dict(metadata or {})
    kind = str(extra.get("command") or "task")  # the kind of task outcomes are judged by
    if request.name is None and not (request.auto and config.skills.auto):
        return await agent.run(
            task, context=context, metadata={**extra, "skill_route": {"method": "off"}}
        )
    catalog = catalog if catalog is not None else discover_from_config(config)
    routed = task if request.name is None else f"/{request.name} {request.arguments}".rstrip()
    # A skill that keeps failing for this kind of task ranks lower, the reason in the note.
    penalties = await route_penalties(runtime.skills, catalog.names, task_kind=kind)
    router = SkillRouter((skill.properties for skill in catalog.skills), penalties=penalties)
    decision = await router.route(routed, min_score=config.skills.min_score)
    chosen = decision.chosen
    if chosen is None:
        if announce is not None and any(m.penalty for m in decision.matches):
            announce(skill_event(decision))  # why the skill that matched was not used
        return await agent.run(
            task, context=context, metadata={**extra, **_trace_metadata(decision)}
        )
    if announce is not None:
        announce(skill_event(decision))
    executor = AgentSkillExecutor.around(
        agent, context=context, metadata={**extra, **_trace_metadata(decision)}
    )
    sandbox = config.sandbox
    invoker = SkillInvoker(
        catalog,
        runtime.skills,
        executor,
        sandbox=LocalSandbox(require=sandbox.require, unsafe_host=sandbox.unsafe_host),
        min_score=config.skills.min_score,
    )
    await invoker.invoke(routed, decision=decision, metadata={"task_kind": kind})
    if executor.last_result is None:  # the executor returned without running the agent
        raise InternalError(f"the skill {chosen.name!r} ran without an agent result")
    return executor.last_result
