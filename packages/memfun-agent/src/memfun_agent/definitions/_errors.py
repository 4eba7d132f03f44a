"""The error of a broken agent file (file, line, field, rule) and the rules it can break."""

from __future__ import annotations

import re
from enum import StrEnum

from memfun_core.errors import ValidationError

__all__ = ["AgentDefinitionError", "AgentRule", "from_skill_error"]

_YAML_POSITION = re.compile(r';? ?in "<unicode string>", line \d+, column \d+')


class AgentRule(StrEnum):
    """Rules of agent files; the value is the stable id printed by ``--json``.

    File, frontmatter and YAML rules are those of skills (same ids, same bounds); the
    rest are the agent format's own.
    """

    PATH_MISSING = "path-missing"
    AGENT_MD_MISSING = "agent-md-missing"
    NOT_MARKDOWN = "not-markdown"
    REQUIRED = "required"
    NON_EMPTY_STRING = "non-empty-string"
    FIELD_TYPE = "field-type"
    FIELD_VALUE = "field-value"
    TOOLS_TYPE = "tools-type"
    NAME_PATH_SEPARATOR = "name-path-separator"
    READ_ONLY_CONFLICT = "read-only-conflict"
    DESCRIPTION_TOO_LONG = "description-too-long"
    # Warnings only.
    UNHONOURED_FIELD = "unhonoured-field"
    UNKNOWN_FIELD = "unknown-field"
    UNMAPPED_TOOL = "unmapped-tool"
    MODEL_ALIAS = "model-alias"
    NAME_FILE_MISMATCH = "name-file-mismatch"
    PERMISSION_MODE = "permission-mode"
    LENIENT_YAML = "lenient-yaml"


class AgentDefinitionError(ValidationError):
    """An agent file breaks a rule; ``str()`` reads ``FILE:LINE: FIELD: MESSAGE``.

    Attributes:
        file: The agent file (or folder) concerned.
        line: The 1-based line of the offending field, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        rule: str,
        file: str,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        location = f"{file}:{line}" if line is not None else file
        super().__init__(message, field=field, rule=rule, location=location, hint=hint)
        self.file = file
        self.line = line
        self.detail = message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form: ``file``, ``line``, ``field``, ``rule``, ``message``, ``hint``."""
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "rule": str(self.rule),
            "message": self.detail,
            "hint": self.hint,
        }


def from_skill_error(
    error: ValidationError, file: str, *, line: int | None = None, document: str = "the file"
) -> AgentDefinitionError:
    """The error raised by one of memfun-skills' readers, said of an agent file.

    Keeps its field, rule and hint; the message names ``document`` instead of ``SKILL.md``.
    """
    prefix = f"{error.location}: {error.field}: " if error.location else f"{error.field}: "
    message = error.message.removeprefix(prefix).replace("SKILL.md", document)
    message = _YAML_POSITION.sub("", message)  # the position is in ``line``, counted in the file
    hint = error.hint.replace("SKILL.md", document) if error.hint else None
    if str(error.rule) == "file-too-large":
        hint = "keep agent files short: long reference material belongs in a skill it preloads"
    hint = (
        hint.replace("references/ files the skill points to", "a skill the agent preloads")
        if hint
        else None
    )
    return AgentDefinitionError(
        message, field=error.field, rule=str(error.rule), file=file, line=line, hint=hint
    )
