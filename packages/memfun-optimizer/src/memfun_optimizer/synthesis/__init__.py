"""Synthesis: clusters of similar successful runs drafted into validated skills and agents.

:func:`cluster_runs` groups recorded runs; :func:`draft_skill` drafts a skill for a cluster
through a typed DSPy signature and keeps it in ``.memfun/skills/_drafts/`` only if Memfun's
validator and the reference ``skills-ref`` (when installed) accept it; :func:`accept_skill`
makes a draft a project skill. :func:`draft_agent` drafts an ``AGENT.md`` the same way into
``.memfun/agents/_drafts/`` (validated by ``validate_agent_text``, its tools those the runs
used) and :func:`accept_agent` makes it a project agent.
"""

from __future__ import annotations

from memfun_optimizer.synthesis._agent import (
    AGENT_READ_TOOLS,
    AgentDraft,
    accept_agent,
    agent_tools,
    draft_agent,
)
from memfun_optimizer.synthesis._cluster import RunCluster, cluster_runs
from memfun_optimizer.synthesis._skill import (
    DRAFTS_DIR,
    SkillDraft,
    accept_skill,
    draft_skill,
    reference_validator,
)

__all__ = [
    "AGENT_READ_TOOLS",
    "DRAFTS_DIR",
    "AgentDraft",
    "RunCluster",
    "SkillDraft",
    "accept_agent",
    "accept_skill",
    "agent_tools",
    "cluster_runs",
    "draft_agent",
    "draft_skill",
    "reference_validator",
]
