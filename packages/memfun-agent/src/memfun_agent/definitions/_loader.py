"""Loading and validating one agent file: ``agents/NAME.md`` or ``agents/NAME/AGENT.md``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from memfun_agent.definitions._errors import AgentDefinitionError, AgentRule, from_skill_error
from memfun_agent.definitions._fields import Reader, interpret
from memfun_agent.definitions._model import AgentDefinition, AgentScope, AgentWarning
from memfun_core.config import AgentsConfig, MemfunConfig
from memfun_core.errors import ValidationError
from memfun_skills import (
    FrontmatterDocument,
    parse_frontmatter_document,
    read_frontmatter_document,
)

__all__ = [
    "AGENT_MD",
    "AGENT_MD_NAMES",
    "AgentValidationReport",
    "agents_config",
    "load_agent_at",
    "load_agent_file",
    "locate_agent_file",
    "validate_agent_file",
    "validate_agent_text",
]

AGENT_MD = "AGENT.md"
"""The file of an agent folder (``agents/NAME/AGENT.md``)."""
AGENT_MD_NAMES = (AGENT_MD, "agent.md")
"""The names an agent folder's file may have, preferred first."""
_LOG = logging.getLogger("memfun.agents")
_FRONTMATTER_FIRST_LINE = 2


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(path))  # noqa: PTH100 - resolve() would follow symlinks


def locate_agent_file(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The agent file ``path`` names and the folder it must stay inside.

    ``path`` is an ``AGENT.md``, a ``NAME.md`` file, or an agent folder holding ``AGENT.md``.

    Raises:
        AgentDefinitionError: ``path-missing``, ``agent-md-missing`` or ``not-markdown``.
    """
    target = _absolute(path)
    if target.is_dir():
        for name in AGENT_MD_NAMES:
            if (target / name).exists():
                return target / name, target
        raise AgentDefinitionError(
            "the folder holds no AGENT.md",
            field="AGENT.md",
            rule=AgentRule.AGENT_MD_MISSING,
            file=str(target),
            hint="an agent is a NAME.md file or a NAME/ folder holding AGENT.md",
        )
    if not target.exists() and not target.is_symlink():
        raise AgentDefinitionError(
            "does not exist",
            field="path",
            rule=AgentRule.PATH_MISSING,
            file=str(target),
            hint="pass an agent file (NAME.md or AGENT.md) or an agent folder",
        )
    if target.suffix.lower() != ".md":
        raise AgentDefinitionError(
            "an agent file is Markdown: its name ends in .md",
            field="path",
            rule=AgentRule.NOT_MARKDOWN,
            file=str(target),
            hint="rename it NAME.md, or put it in a NAME/ folder as AGENT.md",
        )
    return target, target.parent


def _yaml_line(error: ValidationError) -> int | None:
    mark = getattr(error.__cause__, "problem_mark", None) or getattr(
        error.__cause__, "context_mark", None
    )
    line = getattr(mark, "line", None)
    return line + _FRONTMATTER_FIRST_LINE if isinstance(line, int) else None


def _document_name(file: Path) -> str:
    return AGENT_MD if file.name in AGENT_MD_NAMES else file.name


def _read(file: Path, root: Path | None, text: str | None = None) -> FrontmatterDocument:
    document = _document_name(file)
    try:
        if text is not None:
            return parse_frontmatter_document(text, file, document=document)
        return read_frontmatter_document(file, root or file.parent, document=document)
    except ValidationError as error:
        line = 1 if str(error.rule).startswith("frontmatter-") else None
        if str(error.rule) == "yaml-invalid":
            line = _yaml_line(error)
        raise from_skill_error(error, str(file), line=line, document=document) from error
    except (OSError, RuntimeError) as error:  # a dangling link, a link loop, no permission
        raise AgentDefinitionError(
            f"cannot be read: {getattr(error, 'strerror', None) or error}",
            field="path",
            rule="unreadable",
            file=str(file),
            hint="check that the file exists, is readable and is not a broken link",
        ) from error


def load_agent_at(
    file: Path,
    root: Path | None,
    *,
    config: AgentsConfig,
    scope: AgentScope,
    text: str | None = None,
) -> AgentDefinition:
    """Load the agent file ``file`` (confined to ``root``), or ``text`` said to be it.

    Raises:
        AgentDefinitionError: As :func:`load_agent_file`.
    """
    read = _read(file, root, text)
    data, frontmatter, body, notes = read.data, read.frontmatter, read.body, read.notes
    reader = Reader(str(file), frontmatter, _FRONTMATTER_FIRST_LINE)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AgentDefinitionError(
            "the frontmatter must be a YAML mapping",
            field="frontmatter",
            rule="frontmatter-not-mapping",
            file=str(file),
            line=_FRONTMATTER_FIRST_LINE,
            hint="write one 'key: value' per line between the --- lines",
        )
    fields = interpret(reader, cast("dict[str, Any]", data), config)
    for note in notes:
        if not note.startswith("flow-style"):  # flow lists are ordinary in agent files
            reader.warn("frontmatter", f"uses {note}", AgentRule.LENIENT_YAML)
    in_folder = file.name in AGENT_MD_NAMES
    expected = file.parent.name if in_folder else file.stem
    if fields["name"] != expected:
        reader.warn(
            "name",
            f"{fields['name']!r} differs from the {'folder' if in_folder else 'file'} "
            f"name {expected!r}; the agent is called {fields['name']!r}",
            AgentRule.NAME_FILE_MISMATCH,
        )
    if not body:
        reader.warnings.append(
            AgentWarning(
                "is empty: the agent has no instructions beyond its description",
                "body",
                str(AgentRule.FIELD_VALUE),
                str(file),
            )
        )
    return AgentDefinition(
        **fields,
        instructions=body,
        path=file,
        scope=scope,
        warnings=tuple(reader.warnings),
    )


def agents_config(config: MemfunConfig | AgentsConfig | None) -> AgentsConfig:
    """The ``[agents]`` section of ``config`` (its defaults without one)."""
    if config is None:
        return AgentsConfig()
    return config if isinstance(config, AgentsConfig) else config.agents


def load_agent_file(
    path: str | os.PathLike[str],
    *,
    config: MemfunConfig | AgentsConfig | None = None,
    scope: AgentScope = "project",
) -> AgentDefinition:
    """Load one agent file (``NAME.md``, ``AGENT.md`` or its folder).

    Claude Code subagent files load unchanged; fields Memfun cannot honour load with a
    warning that names them (``definition.warnings``, also logged).

    Args:
        path: The file, or an agent folder holding ``AGENT.md``.
        config: The configuration (``[agents.models]`` resolves model aliases).
        scope: Where the file counts as found.

    Raises:
        AgentDefinitionError: A rule is broken; the error names the file, the line (when
            known), the field and the rule.
    """
    file, root = locate_agent_file(path)
    definition = load_agent_at(file, root, config=agents_config(config), scope=scope)
    for warning in definition.warnings:
        _LOG.warning("%s", warning)
    return definition


@dataclass(frozen=True, slots=True)
class AgentValidationReport:
    """The verdict on one agent file.

    Attributes:
        path: The path that was checked.
        errors: The broken rules (empty means valid).
        warnings: What loads anyway but deserves a look.
        definition: The loaded definition when valid.
    """

    path: Path
    errors: tuple[AgentDefinitionError, ...] = ()
    warnings: tuple[AgentWarning, ...] = ()
    definition: AgentDefinition | None = None

    @property
    def valid(self) -> bool:
        """``True`` when no rule is broken (warnings do not count)."""
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary: ``valid``, ``path``, ``errors``, ``warnings``."""
        return {
            "valid": self.valid,
            "path": str(self.path),
            "name": self.definition.name if self.definition else None,
            "errors": [error.to_dict() for error in self.errors],
            "warnings": [
                {
                    "file": warning.file,
                    "line": warning.line,
                    "field": warning.field,
                    "rule": warning.rule,
                    "message": warning.message,
                }
                for warning in self.warnings
            ],
        }


def validate_agent_file(
    path: str | os.PathLike[str], *, config: MemfunConfig | AgentsConfig | None = None
) -> AgentValidationReport:
    """Check one agent file without raising: the report says what is wrong, and where."""
    target = _absolute(path)
    try:
        file, root = locate_agent_file(target)
        definition = load_agent_at(file, root, config=agents_config(config), scope="project")
    except AgentDefinitionError as error:
        return AgentValidationReport(target, errors=(error,))
    return AgentValidationReport(target, warnings=definition.warnings, definition=definition)


def validate_agent_text(
    text: str,
    path: str | os.PathLike[str],
    *,
    config: MemfunConfig | AgentsConfig | None = None,
) -> AgentValidationReport:
    """Check an agent file's text before it is saved at ``path`` (nothing is written).

    The verdict is the one :func:`validate_agent_file` gives once the text is saved there
    (the name is compared with ``path``'s file or folder name).
    """
    target = _absolute(path)
    try:
        definition = load_agent_at(
            target, None, config=agents_config(config), scope="project", text=text
        )
    except AgentDefinitionError as error:
        return AgentValidationReport(target, errors=(error,))
    return AgentValidationReport(target, warnings=definition.warnings, definition=definition)
