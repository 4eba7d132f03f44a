"""Lenient loading of skills for use: what Claude Code accepts, with visible warnings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from memfun_core.errors import ValidationError
from memfun_skills._files import (
    absolute,
    decode_text,
    find_skill_md,
    read_bounded,
    read_frontmatter_block,
)
from memfun_skills._frontmatter import split_lenient
from memfun_skills._model import Rule, SkillProperties, SkillWarning
from memfun_skills._properties import build_properties
from memfun_skills._rules import check_fields, check_warnings
from memfun_skills._yaml import load_lenient

__all__ = ["LoadedSkill", "load_properties_at", "load_skill", "load_skill_properties"]

# Rules a lenient load cannot forgive: without a name and a description a skill is unusable.
_FATAL = frozenset({Rule.REQUIRED, Rule.NON_EMPTY_STRING})


@dataclass(frozen=True, slots=True)
class LoadedSkill:
    """A skill read in full: its properties, its instructions and what was forgiven.

    Attributes:
        properties: The frontmatter properties.
        body: The Markdown instructions after the frontmatter.
        warnings: What a strict validator would refuse or the specification advises against.
    """

    properties: SkillProperties
    body: str
    warnings: tuple[SkillWarning, ...] = ()


def _skill_md(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    target = absolute(path)
    if target.is_file() and target.name.lower() == "skill.md":
        target = target.parent
    skill_md = find_skill_md(target) if target.is_dir() else None
    if skill_md is None:
        raise ValidationError(
            "no SKILL.md in this folder",
            field="SKILL.md",
            rule=Rule.SKILL_MD_MISSING,
            location=str(target),
            hint="a skill is a folder holding SKILL.md",
        )
    return target, skill_md


def _interpret(
    frontmatter: object, skill_dir: Path, skill_md: Path, warnings: list[SkillWarning]
) -> SkillProperties:
    location = str(skill_md)
    if not isinstance(frontmatter, Mapping):
        raise ValidationError(
            "SKILL.md frontmatter must be a YAML mapping",
            field="frontmatter",
            rule=Rule.FRONTMATTER_NOT_MAPPING,
            location=location,
            hint="write one 'key: value' per line between the --- lines",
        )
    fields: dict[str, object] = {str(key): value for key, value in frontmatter.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    for error in check_fields(fields, skill_dir.name, location):
        if error.rule in _FATAL:
            raise error
        warnings.append(
            SkillWarning(
                error.message.removeprefix(f"{error.location}: {error.field}: ")
                + " (loaded anyway)",
                error.field,
                Rule(error.rule),
                location,
            )
        )
    warnings.extend(check_warnings(fields, location))
    properties, tool_warnings = build_properties(fields, skill_dir, skill_md)
    warnings.extend(tool_warnings)
    return properties


def load_skill_properties(
    path: str | os.PathLike[str],
) -> tuple[SkillProperties, tuple[SkillWarning, ...]]:
    """Read a skill's frontmatter only (progressive disclosure: the body is not read).

    Lenient: flow-style lists, a YAML list in ``allowed-tools``, unknown fields or a name
    that differs from the folder load with warnings. Hostile input is still refused.

    Args:
        path: The skill folder, or its ``SKILL.md``.

    Returns:
        The properties and the warnings.

    Raises:
        ValidationError: When the skill cannot be used (no name or description, malformed
            YAML, not UTF-8, too large, a symlink out of the folder, ...).
    """
    return load_properties_at(*_skill_md(path))


def load_properties_at(
    skill_dir: Path, skill_md: Path
) -> tuple[SkillProperties, tuple[SkillWarning, ...]]:
    """:func:`load_skill_properties` for a ``SKILL.md`` already found (discovery's path).

    Raises:
        ValidationError: As :func:`load_skill_properties`.
    """
    text = decode_text(read_frontmatter_block(skill_md, skill_dir), skill_md)
    split = split_lenient(text, skill_md)
    data, yaml_warnings = load_lenient(split.frontmatter, skill_md)
    warnings = [*split.warnings, *yaml_warnings]
    properties = _interpret(data, skill_dir, skill_md, warnings)
    return properties, tuple(warnings)


def load_skill(path: str | os.PathLike[str]) -> LoadedSkill:
    """Read a whole skill for activation: properties, body and warnings.

    Raises:
        ValidationError: As :func:`load_skill_properties`, and for a body that is not UTF-8.
    """
    skill_dir, skill_md = _skill_md(path)
    text = decode_text(read_bounded(skill_md, skill_dir), skill_md)
    split = split_lenient(text, skill_md)
    data, yaml_warnings = load_lenient(split.frontmatter, skill_md)
    warnings = [*split.warnings, *yaml_warnings]
    properties = _interpret(data, skill_dir, skill_md, warnings)
    return LoadedSkill(properties=properties, body=split.body, warnings=tuple(warnings))
