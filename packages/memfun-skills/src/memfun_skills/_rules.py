"""The field rules of the Agent Skills specification, shared by strict and lenient loading.

Each check mirrors one rule of skills-ref 0.1.1 (same order, same conditions) and returns
:class:`~memfun_core.errors.ValidationError` objects that name the field and the rule.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from memfun_core.errors import ValidationError
from memfun_skills._limits import (
    ALLOWED_FIELDS,
    MAX_COMPATIBILITY_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
)
from memfun_skills._model import Rule, SkillWarning

__all__ = ["check_fields", "check_name", "check_warnings", "normalize_name"]


def normalize_name(name: str) -> str:
    """The name as the specification compares it: stripped and NFKC-normalized."""
    return unicodedata.normalize("NFKC", name.strip())


def _error(message: str, field: str, rule: Rule, location: str, hint: str) -> ValidationError:
    return ValidationError(message, field=field, rule=rule, location=location, hint=hint)


def _is_blank(value: object) -> bool:
    return not value or not isinstance(value, str) or not value.strip()


def _name_errors(raw: object, folder: str, location: str) -> list[ValidationError]:
    if _is_blank(raw):
        return [
            _error(
                "must be a non-empty string",
                "name",
                Rule.NON_EMPTY_STRING,
                location,
                "set 'name: your-skill-name' (the folder's name)",
            )
        ]
    name = normalize_name(str(raw))
    errors: list[ValidationError] = []
    if len(name) > MAX_NAME_LENGTH:
        errors.append(
            _error(
                f"skill name has {len(name)} characters; the limit is {MAX_NAME_LENGTH}",
                "name",
                Rule.NAME_TOO_LONG,
                location,
                "choose a shorter name",
            )
        )
    if name != name.lower():
        errors.append(
            _error(
                f"skill name {name!r} must be lowercase",
                "name",
                Rule.NAME_LOWERCASE,
                location,
                f"use {name.lower()!r}",
            )
        )
    if name.startswith("-") or name.endswith("-"):
        errors.append(
            _error(
                "skill name cannot start or end with a hyphen",
                "name",
                Rule.NAME_HYPHEN_EDGE,
                location,
                f"use {name.strip('-')!r}",
            )
        )
    if "--" in name:
        errors.append(
            _error(
                "skill name cannot contain consecutive hyphens",
                "name",
                Rule.NAME_CONSECUTIVE_HYPHENS,
                location,
                "use single hyphens between words",
            )
        )
    if not all(char.isalnum() or char == "-" for char in name):
        errors.append(
            _error(
                f"skill name {name!r} may contain only letters, digits and hyphens",
                "name",
                Rule.NAME_CHARACTERS,
                location,
                "replace spaces, underscores and punctuation with hyphens",
            )
        )
    if unicodedata.normalize("NFKC", folder) != name:
        errors.append(
            _error(
                f"the folder name {folder!r} must equal the skill name {name!r}",
                "name",
                Rule.NAME_FOLDER_MISMATCH,
                location,
                f"rename the folder to {name!r} or change the name field",
            )
        )
    return errors


def check_name(raw: object, location: str) -> list[ValidationError]:
    """The specification's name rules alone, with no folder to match (for other formats).

    Agent definitions (``AGENT.md``) name things the same way skills do: lowercase letters,
    digits and single hyphens, at most 64 characters.

    Returns:
        The broken rules; empty when the name is valid.
    """
    folder = normalize_name(raw) if isinstance(raw, str) else ""
    return _name_errors(raw, folder, location)


def _description_errors(raw: object, location: str) -> list[ValidationError]:
    if _is_blank(raw):
        return [
            _error(
                "must be a non-empty string",
                "description",
                Rule.NON_EMPTY_STRING,
                location,
                "say what the skill does and when to use it",
            )
        ]
    if len(str(raw)) > MAX_DESCRIPTION_LENGTH:
        return [
            _error(
                f"has {len(str(raw))} characters; the limit is {MAX_DESCRIPTION_LENGTH}",
                "description",
                Rule.DESCRIPTION_TOO_LONG,
                location,
                "move details into the body of SKILL.md",
            )
        ]
    return []


def _compatibility_errors(raw: object, location: str) -> list[ValidationError]:
    if not isinstance(raw, str):
        return [
            _error(
                "must be a string",
                "compatibility",
                Rule.COMPATIBILITY_TYPE,
                location,
                "write the requirements as one sentence",
            )
        ]
    if len(raw) > MAX_COMPATIBILITY_LENGTH:
        return [
            _error(
                f"has {len(raw)} characters; the limit is {MAX_COMPATIBILITY_LENGTH}",
                "compatibility",
                Rule.COMPATIBILITY_TOO_LONG,
                location,
                "shorten it",
            )
        ]
    return []


def check_fields(
    frontmatter: Mapping[str, object], folder: str, location: str
) -> list[ValidationError]:
    """Every rule of the specification that skills-ref enforces, in its order.

    Args:
        frontmatter: The parsed frontmatter mapping.
        folder: The skill folder's name (the ``name`` must equal it).
        location: The ``SKILL.md`` path, for the errors.

    Returns:
        The broken rules; empty when the frontmatter is valid.
    """
    errors: list[ValidationError] = []
    extra = sorted(set(frontmatter) - ALLOWED_FIELDS)
    if extra:
        errors.append(
            _error(
                f"unexpected fields {', '.join(map(repr, extra))}; only "
                f"{', '.join(sorted(ALLOWED_FIELDS))} are allowed",
                extra[0] or "''",
                Rule.UNEXPECTED_FIELDS,
                location,
                "move custom fields under 'metadata:'",
            )
        )
    for field in ("name", "description"):
        if field not in frontmatter:
            errors.append(
                _error(
                    "is required",
                    field,
                    Rule.REQUIRED,
                    location,
                    f"add a '{field}:' line to the frontmatter",
                )
            )
        elif field == "name":
            errors.extend(_name_errors(frontmatter[field], folder, location))
        else:
            errors.extend(_description_errors(frontmatter[field], location))
    if "compatibility" in frontmatter:
        errors.extend(_compatibility_errors(frontmatter["compatibility"], location))
    return errors


def check_warnings(frontmatter: Mapping[str, object], location: str) -> list[SkillWarning]:
    """What the specification asks for but skills-ref does not enforce (warnings only)."""
    warnings: list[SkillWarning] = []
    metadata = frontmatter.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(value, str) for value in metadata.values())  # pyright: ignore[reportUnknownVariableType]
    ):
        warnings.append(
            SkillWarning(
                "should map string keys to string values",
                "metadata",
                Rule.METADATA_SHAPE,
                location,
            )
        )
    license_ = frontmatter.get("license")
    if license_ is not None and not isinstance(license_, str):
        warnings.append(
            SkillWarning(
                f"should be a string, found a {type(license_).__name__}",
                "license",
                Rule.FIELD_TYPE,
                location,
            )
        )
    return warnings  # allowed-tools is checked where it is split (_properties)
