"""Value objects of the skills runtime: rules, warnings, properties, validation reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from memfun_core.errors import ValidationError

__all__ = ["Rule", "SkillProperties", "SkillWarning", "ValidationReport"]


class Rule(StrEnum):
    """Every rule a skill can break; the value is the stable id printed by ``--json``."""

    PATH_MISSING = "path-missing"
    NOT_A_DIRECTORY = "not-a-directory"
    SKILL_MD_MISSING = "skill-md-missing"
    NOT_A_REGULAR_FILE = "not-a-regular-file"
    SYMLINK_ESCAPE = "symlink-escape"
    FILE_TOO_LARGE = "file-too-large"
    NOT_UTF8 = "not-utf8"
    FRONTMATTER_MISSING = "frontmatter-missing"
    FRONTMATTER_UNCLOSED = "frontmatter-unclosed"
    FRONTMATTER_TOO_LARGE = "frontmatter-too-large"
    YAML_INVALID = "yaml-invalid"
    YAML_TOO_COMPLEX = "yaml-too-complex"
    FRONTMATTER_NOT_MAPPING = "frontmatter-not-mapping"
    UNEXPECTED_FIELDS = "unexpected-fields"
    REQUIRED = "required"
    NON_EMPTY_STRING = "non-empty-string"
    NAME_TOO_LONG = "name-too-long"
    NAME_LOWERCASE = "name-lowercase"
    NAME_HYPHEN_EDGE = "name-hyphen-edge"
    NAME_CONSECUTIVE_HYPHENS = "name-consecutive-hyphens"
    NAME_CHARACTERS = "name-characters"
    NAME_FOLDER_MISMATCH = "name-folder-mismatch"
    DESCRIPTION_TOO_LONG = "description-too-long"
    COMPATIBILITY_TYPE = "compatibility-type"
    COMPATIBILITY_TOO_LONG = "compatibility-too-long"
    # Warnings only: the specification is stricter than skills-ref here, or a lenient load
    # accepted something a strict validator refuses.
    METADATA_SHAPE = "metadata-shape"
    FIELD_TYPE = "field-type"
    LENIENT_YAML = "lenient-yaml"
    LENIENT_FRONTMATTER = "lenient-frontmatter"


@dataclass(frozen=True, slots=True)
class SkillWarning:
    """Something worth fixing that does not make a skill invalid.

    Attributes:
        message: What is off, in one sentence.
        field: The frontmatter field (or file) concerned.
        rule: The rule, as a :class:`Rule`.
        location: The file it came from.
    """

    message: str
    field: str
    rule: Rule
    location: str

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class SkillProperties:
    """What a skill's frontmatter says, plus where it lives.

    Attributes:
        name: The skill name (stripped; NFKC-normalized by validation rules).
        description: What the skill does and when to use it.
        skill_dir: The skill folder (absolute, symlinks not resolved).
        skill_md: The ``SKILL.md`` file.
        license: The ``license`` field, if any.
        compatibility: The ``compatibility`` field, if any.
        allowed_tools: The ``allowed-tools`` entries, split (``("Read", "Bash(git:*)")``).
        metadata: The ``metadata`` mapping, values as strings.
    """

    name: str
    description: str
    skill_dir: Path
    skill_md: Path
    license: str | None = None
    compatibility: str | None = None
    allowed_tools: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])

    def to_dict(self) -> dict[str, Any]:
        """The properties as ``agentskills read-properties`` prints them (JSON-ready)."""
        result: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.license is not None:
            result["license"] = self.license
        if self.compatibility is not None:
            result["compatibility"] = self.compatibility
        if self.allowed_tools:
            result["allowed-tools"] = " ".join(self.allowed_tools)
        if self.metadata:
            result["metadata"] = dict(self.metadata)
        return result


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The verdict of strict validation on one skill folder.

    Attributes:
        path: The skill folder that was checked.
        errors: Every rule broken; empty means valid.
        warnings: Things the specification asks for that skills-ref does not enforce.
        properties: The parsed properties when the frontmatter could be read.
    """

    path: Path
    errors: tuple[ValidationError, ...] = ()
    warnings: tuple[SkillWarning, ...] = ()
    properties: SkillProperties | None = None

    @property
    def valid(self) -> bool:
        """``True`` when no rule is broken (warnings do not count)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: ``valid``, ``path``, ``errors`` and ``warnings``."""
        return {
            "valid": self.valid,
            "path": str(self.path),
            "errors": [
                {
                    "location": error.location,
                    "field": error.field,
                    "rule": error.rule,
                    "message": error.message,
                    "hint": error.hint,
                }
                for error in self.errors
            ],
            "warnings": [
                {
                    "location": warning.location,
                    "field": warning.field,
                    "rule": str(warning.rule),
                    "message": warning.message,
                }
                for warning in self.warnings
            ],
        }
