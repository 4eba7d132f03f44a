"""Call-time limits of a definition's tools: ``tools`` grants, and agent files validated."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfun_agent._grants import grants_allow
from memfun_agent.definitions._loader import validate_agent_text
from memfun_agent.definitions._model import AgentDefinition
from memfun_agent.tools import ToolSpec
from memfun_agent.tools._bridge import ToolGuard
from memfun_core.config import AgentsConfig
from memfun_core.errors import PermissionDeniedError

__all__ = ["definition_guard", "is_agent_file"]

_GRANT_RULES = (
    "paths relative to the workspace, without '..'; commands one simple command, without "
    "; & | < > ` $( or line breaks"
)


def is_agent_file(root: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``root``) is where agent discovery looks for a definition.

    ``agents/NAME.md`` and ``agents/NAME/AGENT.md`` under any folder called ``agents``
    (``.memfun/agents``, ``.claude/agents``, the built-in ``agents/``), ``README.md`` aside.
    Both the path as written (``..`` parts folded) and the file it reaches once symbolic
    links are resolved count: a link in or out of an agents folder does not dodge the check.
    """
    real = Path(os.path.realpath(root / path))
    lexical = Path(os.path.normpath(root / path))
    return any(
        _in_agents_folder(candidate.relative_to(root).parts)
        for candidate in (real, lexical)
        if candidate.is_relative_to(root)
    )


def _in_agents_folder(parts: tuple[str, ...]) -> bool:
    if len(parts) >= 2 and parts[-2] == "agents":  # noqa: PLR2004
        return parts[-1].endswith(".md") and parts[-1] != "README.md"
    return len(parts) >= 3 and parts[-1] == "AGENT.md" and parts[-3] == "agents"  # noqa: PLR2004


def definition_guard(
    definition: AgentDefinition,
    workspace: Path,
    *,
    validate_agents: bool,
    config: AgentsConfig | None = None,
) -> ToolGuard | None:
    """The check each of ``definition``'s tool calls passes before it runs, if any.

    - **Grants**: a tool named by grants in ``definition.tool_grants`` runs only with
      arguments one of them allows (``Edit(src/**)``: a path matching ``src/**`` as written
      and once symbolic links are resolved; ``Bash(npm test:*)``: one simple command starting
      with ``npm test``), as skills' ``allowed-tools`` are enforced.
    - **Agent files**: with ``validate_agents``, ``fs_write`` of an agent file
      (:func:`is_agent_file`) is refused unless the text validates, so an agent that writes
      definitions never saves a broken one.

    Returns:
        The guard, or ``None`` when there is nothing to check.
    """
    grants = definition.tool_grants
    if not grants and not validate_agents:
        return None
    root = workspace.resolve()

    def guard(spec: ToolSpec, arguments: Mapping[str, Any]) -> None:
        name = spec.name
        named = [grant for grant in grants if fnmatch.fnmatchcase(name, grant.tool)]
        if named and not grants_allow(named, name, arguments, root):
            raise PermissionDeniedError(
                f"call {name}",
                f"agent {definition.name!r} may not call it with these arguments",
                hint="its tools allow only: "
                + ", ".join(grant.source for grant in named)
                + f" ({_GRANT_RULES})",
            )
        if validate_agents and name == "fs_write":
            _check_agent_file(arguments, root, config)

    return guard


def _check_agent_file(
    arguments: Mapping[str, Any], root: Path, config: AgentsConfig | None
) -> None:
    path = str(arguments.get("path") or "")
    if not is_agent_file(root, path):
        return
    report = validate_agent_text(str(arguments.get("content", "")), root / path, config=config)
    if report.valid:
        return
    errors = "; ".join(str(error) for error in report.errors)
    raise PermissionDeniedError(
        f"write {path}",
        f"the agent file does not validate: {errors}",
        hint="fix every error agent_validate(text, path) reports, then write it again",
    )
