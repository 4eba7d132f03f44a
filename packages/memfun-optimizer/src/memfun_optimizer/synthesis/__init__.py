"""Skill synthesis: clusters of similar successful runs drafted into validated SKILL.md files.

:func:`cluster_runs` groups recorded runs; :func:`draft_skill` drafts a skill for a cluster
through a typed DSPy signature and keeps it in ``.memfun/skills/_drafts/`` only if Memfun's
validator and the reference ``skills-ref`` (when installed) accept it; :func:`accept_skill`
makes a draft a project skill.
"""

from __future__ import annotations

from memfun_optimizer.synthesis._cluster import RunCluster, cluster_runs
from memfun_optimizer.synthesis._skill import (
    DRAFTS_DIR,
    SkillDraft,
    accept_skill,
    draft_skill,
    reference_validator,
)

__all__ = [
    "DRAFTS_DIR",
    "RunCluster",
    "SkillDraft",
    "accept_skill",
    "cluster_runs",
    "draft_skill",
    "reference_validator",
]
