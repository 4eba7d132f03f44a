"""The ``<available_skills>`` block for system prompts (as ``agentskills to-prompt``)."""

from __future__ import annotations

import html
from collections.abc import Iterable

from memfun_skills._model import SkillProperties

__all__ = ["to_prompt"]


def to_prompt(skills: Iterable[SkillProperties]) -> str:
    """Render skills as the ``<available_skills>`` XML block skills-ref's ``to_prompt`` makes.

    Only names, descriptions and ``SKILL.md`` locations appear: the model reads a skill's
    file when it decides to use it (progressive disclosure).
    """
    lines = ["<available_skills>"]
    for skill in skills:
        lines += [
            "<skill>",
            "<name>",
            html.escape(skill.name),
            "</name>",
            "<description>",
            html.escape(skill.description),
            "</description>",
            "<location>",
            str(skill.skill_md.parent.resolve() / skill.skill_md.name),
            "</location>",
            "</skill>",
        ]
    lines.append("</available_skills>")
    return "\n".join(lines)
