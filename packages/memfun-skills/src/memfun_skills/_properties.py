"""Building :class:`SkillProperties` from a parsed frontmatter mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from memfun_skills._model import Rule, SkillProperties, SkillWarning

__all__ = ["build_properties", "split_allowed_tools"]


def split_allowed_tools(text: str) -> tuple[str, ...]:
    """Split an ``allowed-tools`` string into entries.

    Entries are separated by spaces (the specification) or commas (Claude Code); spaces
    inside parentheses belong to the entry: ``"Bash(git add:*) Read"`` gives
    ``("Bash(git add:*)", "Read")``.
    """
    entries: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if depth == 0 and (char.isspace() or char == ","):
            if current:
                entries.append("".join(current))
                current = []
            continue
        current.append(char)
    if current:
        entries.append("".join(current))
    return tuple(entries)


def _allowed_tools(value: object, location: str) -> tuple[tuple[str, ...], list[SkillWarning]]:
    if value is None:
        return (), []
    if isinstance(value, str):
        return split_allowed_tools(value), []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):  # pyright: ignore[reportUnknownVariableType]
        items = [str(item) for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        warning = SkillWarning(
            "is a YAML list; the specification wants one space-separated string "
            f"(write: allowed-tools: {' '.join(items)})",
            "allowed-tools",
            Rule.FIELD_TYPE,
            location,
        )
        return tuple(entry for item in items for entry in split_allowed_tools(item)), [warning]
    warning = SkillWarning(
        "is neither a string nor a list of strings; it is ignored",
        "allowed-tools",
        Rule.FIELD_TYPE,
        location,
    )
    return (), [warning]


def _metadata(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(key): str(item) for key, item in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return {}


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def build_properties(
    frontmatter: Mapping[str, object], skill_dir: Path, skill_md: Path
) -> tuple[SkillProperties, list[SkillWarning]]:
    """Properties from a frontmatter whose ``name`` and ``description`` are strings.

    Returns:
        The properties and the warnings raised while reading ``allowed-tools``.
    """
    tools, warnings = _allowed_tools(frontmatter.get("allowed-tools"), str(skill_md))
    properties = SkillProperties(
        name=str(frontmatter["name"]).strip(),
        description=str(frontmatter["description"]).strip(),
        skill_dir=skill_dir,
        skill_md=skill_md,
        license=_optional_str(frontmatter.get("license")),
        compatibility=_optional_str(frontmatter.get("compatibility")),
        allowed_tools=tools,
        metadata=_metadata(frontmatter.get("metadata")),
    )
    return properties, warnings
