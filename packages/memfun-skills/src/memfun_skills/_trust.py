"""Project skills that can run or change something wait until the folder is trusted."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from memfun_skills._discovery import DiscoveredSkill, InactiveSkill, Scope, SkillCatalog

__all__ = ["gate_untrusted", "project_risks", "skill_risk"]

_READ_ONLY_TOOLS = frozenset(
    {
        "fs_read",
        "fs_list",
        "fs_glob",
        "fs_tree",
        "search_text",
        "git_status",
        "git_diff",
        "git_log",
        "git_show",
        "git_blame",
    }
)


def skill_risk(skill: DiscoveredSkill) -> str | None:
    """What makes ``skill`` need trust: scripts, or grants beyond reading (``None``: none)."""
    from memfun_skills._tools import map_allowed_tools

    scripts = skill.properties.skill_dir / "scripts"
    if scripts.is_dir() and any(path.is_file() for path in scripts.rglob("*")):
        return "it has scripts"
    grants, _ = map_allowed_tools(skill.properties.allowed_tools)
    broad = [grant.source for grant in grants if grant.tool not in _READ_ONLY_TOOLS]
    if broad:
        return "it pre-approves " + ", ".join(broad)
    return None


def _from_project(skill: DiscoveredSkill, root: Path) -> bool:
    if skill.scope == Scope.PROJECT:
        return True
    # [skills] paths inside the project come with the repository too.
    folder = Path(os.path.abspath(skill.properties.skill_dir))  # noqa: PTH100 - no link resolution
    return skill.scope == Scope.CONFIG and folder.is_relative_to(root)


def project_risks(catalog: SkillCatalog, project_root: Path) -> dict[str, str]:
    """The usable project skills that need trust, by name, with what makes them need it."""
    root = Path(os.path.abspath(project_root))  # noqa: PTH100 - the roots are not resolved either
    flagged: dict[str, str] = {}
    for skill in catalog.skills:
        risk = skill_risk(skill) if _from_project(skill, root) else None
        if risk is not None:
            flagged[skill.name] = risk
    return flagged


def gate_untrusted(
    catalog: SkillCatalog, project_root: Path, environ: Mapping[str, str] | None = None
) -> SkillCatalog:
    """Move risky project skills of an untrusted folder to ``catalog.inactive``.

    A skill of lower precedence that the inactive one shadowed (a user or built-in skill
    of the same name) takes its place.
    """
    root = Path(os.path.abspath(project_root))  # noqa: PTH100 - the roots are not resolved either
    flagged = project_risks(catalog, root)
    if not flagged:
        return catalog
    import logging  # only when a project has risky skills: off `memfun skill list`'s start-up

    from memfun_core.trust import workspace_trust

    state = workspace_trust(project_root, environ)
    if state.trusted:
        return catalog
    inactive = [
        InactiveSkill(skill, f"{flagged[skill.name]} and {state.reason}")
        for skill in catalog.skills
        if skill.name in flagged
    ]
    logging.getLogger("memfun.trust").warning(
        "project skills %s are inactive: %s. To use them: %s",
        ", ".join(sorted(flagged)),
        state.reason,
        state.hint,
    )
    skills: list[DiscoveredSkill] = []
    shadowed = list(catalog.shadowed)
    for skill in catalog.skills:
        if skill.name not in flagged:
            skills.append(skill)
            continue
        heir = next(
            (
                s
                for s in shadowed
                if s.skill.name == skill.name
                and not (_from_project(s.skill, root) and skill_risk(s.skill) is not None)
            ),
            None,
        )
        if heir is not None:
            shadowed.remove(heir)
            skills.append(heir.skill)
    return replace(
        catalog,
        skills=tuple(skills),
        shadowed=tuple(shadowed),
        inactive=(*catalog.inactive, *inactive),
    )
