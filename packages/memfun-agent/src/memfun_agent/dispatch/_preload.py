"""Skills an agent definition preloads (``skills:``): activated, published and recorded.

A preloaded skill is part of the agent, not a grant: its instructions join the agent's (the
run's ``skill_instructions``), and its ``allowed-tools`` neither add tools nor pre-approve
calls, since the agent's own ``tools`` (and the session's policy) decide what the run may
call. What the skill executor does for every other skill run still happens: each skill's
version is published in the runtime's ``SkillRegistry`` and, when the run ends, one
invocation is recorded per preloaded skill with the run's outcome, tokens, cost and
duration, the run id, ``task_kind: agent``, the agent that preloaded it, and the tools its
``allowed-tools`` named that the agent does not have (``not_granted``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from memfun_runtime.protocols import InvocationOutcome, JSONValue, SkillRegistry
from memfun_skills import ActivatedSkill

if TYPE_CHECKING:
    from memfun_agent._agent import AgentResult

__all__ = ["agent_outcome", "preload_skills", "record_preloaded"]


def agent_outcome(result: AgentResult) -> InvocationOutcome:
    """An agent run's invocation outcome: ``success``, ``failure`` or ``error``.

    Completed with passing (or no) checks is a success; a model, sandbox or internal error
    an error; anything else a failure.
    """
    if result.outcome in ("model_error", "sandbox_error", "internal_error"):
        return "error"
    verification = result.verification
    if result.completed and (verification is None or verification.get("passed")):
        return "success"
    return "failure"


async def preload_skills(
    registry: SkillRegistry,
    agent: str,
    names: Sequence[str],
    activate: Callable[[str], ActivatedSkill] | None,
) -> tuple[tuple[ActivatedSkill, ...], str]:
    """Activate the skills ``names``, publish their versions; return them and their text.

    Raises:
        NotFoundError: A named skill is not found (from ``activate``).
    """
    if activate is None or not names:
        return (), ""
    skills = tuple(activate(name) for name in names)
    for skill in skills:
        await registry.publish(
            skill.name,
            skill.version,
            description=skill.properties.description,
            metadata={
                "path": str(skill.properties.skill_dir),
                "allowed_tools": list(skill.properties.allowed_tools),
                "preloaded_by": agent,
            },
        )
    text = "\n\n".join(f"## Skill {skill.name}\n\n{skill.instructions}" for skill in skills)
    return skills, text


def _not_granted(skill: ActivatedSkill, tools: Iterable[str]) -> list[JSONValue]:
    names = tuple(tools)
    missing = {
        g.tool for g in skill.tools if not any(fnmatch.fnmatchcase(n, g.tool) for n in names)
    }
    return [*sorted(missing), *skill.unmapped_tools]


async def record_preloaded(
    registry: SkillRegistry,
    agent: str,
    skills: Sequence[ActivatedSkill],
    result: AgentResult,
    tools: Iterable[str],
) -> None:
    """Record one invocation per preloaded skill, with the whole run's usage and outcome.

    The run is one: with two preloaded skills, each record carries the run's tokens and cost
    (``shared_with`` names the others), so summing records over skills counts a run twice.
    """
    usage = result.usage
    outcome = agent_outcome(result)
    names = tuple(tools)
    for skill in skills:
        metadata: dict[str, JSONValue] = {
            "task_kind": "agent",
            "preloaded_by": agent,
            "run_id": result.run_id,
            "stop_reason": result.outcome,
            "not_granted": _not_granted(skill, names),
            "shared_with": [s.name for s in skills if s.name != skill.name],
        }
        if result.error:
            metadata["error"] = result.error
        await registry.record_invocation(
            skill.name,
            outcome=outcome,
            latency=usage.wall_seconds,
            version=skill.version,
            tokens=usage.tokens,
            cost=usage.cost_usd,
            metadata=metadata,
        )
