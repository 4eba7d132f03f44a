"""Strict validation of a skill folder: the verdict of skills-ref, with reasons."""

from __future__ import annotations

import os
from pathlib import Path

from memfun_core.errors import ValidationError
from memfun_skills._files import absolute, decode_text, find_skill_md, read_bounded
from memfun_skills._frontmatter import split_lenient, split_strict
from memfun_skills._model import Rule, SkillWarning, ValidationReport
from memfun_skills._properties import build_properties
from memfun_skills._rules import check_fields, check_warnings
from memfun_skills._yaml import load_strict

__all__ = ["validate_skill"]

_MAX_WALK_ENTRIES = 10_000


def _report(path: Path, error: ValidationError) -> ValidationReport:
    return ValidationReport(path=path, errors=(error,))


def _escaping_symlinks(root: Path) -> tuple[list[ValidationError], list[SkillWarning]]:
    """Every symlink in the folder that leads outside it (walked without following links)."""
    errors: list[ValidationError] = []
    root_resolved = root.resolve()
    seen = 0
    for current, dirs, files in os.walk(root, followlinks=False):
        for entry in (*dirs, *files):
            seen += 1
            if seen > _MAX_WALK_ENTRIES:
                warning = SkillWarning(
                    f"the folder has more than {_MAX_WALK_ENTRIES} entries; "
                    "symlinks past that point were not checked",
                    "folder",
                    Rule.SYMLINK_ESCAPE,
                    str(root),
                )
                return errors, [warning]
            path = Path(current, entry)
            if not path.is_symlink():
                continue
            target = path.resolve()
            if target != root_resolved and not target.is_relative_to(root_resolved):
                errors.append(
                    ValidationError(
                        f"symlink to {target}, outside the skill folder",
                        field=str(path.relative_to(root)),
                        rule=Rule.SYMLINK_ESCAPE,
                        location=str(path),
                        hint="copy the file into the skill folder instead of linking outside it",
                    )
                )
    return errors, []


def _inline_delimiter(text: str, strict_frontmatter: str, skill_md: Path) -> list[SkillWarning]:
    """Warn when skills-ref's split (first ``---`` anywhere) cuts a line short."""
    try:
        lenient = split_lenient(text, skill_md).frontmatter
    except ValidationError:
        lenient = None
    if lenient is None or lenient.strip() == strict_frontmatter.strip():
        return []
    return [
        SkillWarning(
            "a value contains '---'; skills-ref ends the frontmatter there while the "
            "specification (and Memfun when loading) reads up to the closing '---' line",
            "frontmatter",
            Rule.LENIENT_FRONTMATTER,
            str(skill_md),
        )
    ]


def _locate(path: str | os.PathLike[str]) -> tuple[Path, Path | ValidationError]:
    target = absolute(path)
    if target.is_file() and target.name.lower() == "skill.md":
        target = target.parent
    if not target.exists():
        return target, ValidationError(
            "path does not exist",
            field="path",
            rule=Rule.PATH_MISSING,
            location=str(target),
            hint="pass the skill folder (the one holding SKILL.md)",
        )
    if not target.is_dir():
        return target, ValidationError(
            "not a directory",
            field="path",
            rule=Rule.NOT_A_DIRECTORY,
            location=str(target),
            hint="pass the skill folder (the one holding SKILL.md)",
        )
    skill_md = find_skill_md(target)
    if skill_md is None:
        return target, ValidationError(
            "missing required file SKILL.md",
            field="SKILL.md",
            rule=Rule.SKILL_MD_MISSING,
            location=str(target),
            hint="create SKILL.md with a frontmatter holding name and description",
        )
    return target, skill_md


def validate_skill(path: str | os.PathLike[str]) -> ValidationReport:
    """Validate a skill folder (or its ``SKILL.md``) strictly.

    The verdict equals that of the reference validator skills-ref 0.1.1 on every input,
    except where Memfun refuses hostile input skills-ref would read: a ``SKILL.md`` over
    1 MiB, a frontmatter over 32 KiB or 500 lines, and symlinks leading out of the folder.
    Where skills-ref crashes (non-UTF-8 text, ``SKILL.md`` being a folder) this reports an
    error. Every error names the file, the field and the rule.

    Args:
        path: The skill folder, or its ``SKILL.md`` file.

    Returns:
        The report; ``report.valid`` is the verdict.
    """
    skill_dir, found = _locate(path)
    if isinstance(found, ValidationError):
        return _report(skill_dir, found)
    skill_md = found
    location = str(skill_md)
    try:
        text = decode_text(read_bounded(skill_md, skill_dir), skill_md)
        split = split_strict(text, skill_md)
        document = load_strict(split.frontmatter, skill_md)
    except ValidationError as error:
        return _report(skill_dir, error)
    if not isinstance(document, dict):
        return _report(
            skill_dir,
            ValidationError(
                "SKILL.md frontmatter must be a YAML mapping",
                field="frontmatter",
                rule=Rule.FRONTMATTER_NOT_MAPPING,
                location=location,
                hint="write one 'key: value' per line between the --- lines",
            ),
        )
    frontmatter: dict[str, object] = {str(key): value for key, value in document.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    errors = check_fields(frontmatter, skill_dir.name, location)
    link_errors, warnings = _escaping_symlinks(skill_dir)
    errors.extend(link_errors)
    warnings = [
        *check_warnings(frontmatter, location),
        *_inline_delimiter(text, split.frontmatter, skill_md),
        *warnings,
    ]
    properties = None
    if not errors:
        properties, tool_warnings = build_properties(frontmatter, skill_dir, skill_md)
        warnings.extend(tool_warnings)
    return ValidationReport(
        path=skill_dir, errors=tuple(errors), warnings=tuple(warnings), properties=properties
    )
