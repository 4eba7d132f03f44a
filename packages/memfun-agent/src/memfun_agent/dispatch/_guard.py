"""A definition's tools: which ones its runs get, and the limits each call must pass."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from memfun_agent._grants import grants_allow
from memfun_agent.definitions._loader import validate_agent_text
from memfun_agent.definitions._model import AgentDefinition
from memfun_agent.definitions._tool import AGENT_VALIDATE_TOOL
from memfun_agent.dispatch._delegate import CAPABILITY_TOOL, DELEGATE_TOOL
from memfun_agent.tools import ToolSpec
from memfun_agent.tools._bridge import ToolGuard
from memfun_core.config import AgentsConfig
from memfun_core.errors import PermissionDeniedError

__all__ = [
    "WRITE_TOOLS",
    "definition_guard",
    "is_agent_file",
    "offers_agent_validate",
    "tool_filter",
]

WRITE_TOOLS = frozenset({"fs_write", "fs_edit", "fs_multi_edit"})

_GRANT_RULES = (
    "paths relative to the workspace, without '..'; commands one simple command, without "
    "; & | < > ` $( or line breaks"
)


def tool_filter(definition: AgentDefinition) -> Callable[[ToolSpec], bool]:
    """Which tools a definition's runs see: ``tools``, minus ``disallowed_tools``, read-only.

    ``read_only`` (or ``permissionMode: plan``) removes the file-writing tools and every
    destructive tool; ``mcp_servers`` limits the tools of configured MCP servers;
    the delegation tools are offered only to a definition that names agents it may
    delegate to.
    """
    read_only = definition.read_only or definition.permission_mode == "plan"

    def matches(name: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    def keep(spec: ToolSpec) -> bool:
        name = spec.name
        if matches(name, definition.disallowed_tools):
            return False
        if name in (DELEGATE_TOOL, CAPABILITY_TOOL):
            return bool(definition.delegates)
        if read_only and (name in WRITE_TOOLS or spec.destructive):
            return False
        servers = definition.mcp_servers
        if (
            servers is not None
            and spec.source.startswith("mcp:")
            and spec.source.removeprefix("mcp:") not in servers
        ):
            return False
        return definition.tools is None or matches(name, definition.tools)

    return keep


def offers_agent_validate(definition: AgentDefinition) -> bool:
    """Whether runs of ``definition`` get ``agent_validate``: its ``tools`` name it.

    Such an agent writes agent files (agent-architect), and its ``fs_write`` of an agent
    file is refused unless the text validates.
    """
    tools = definition.tools
    return (
        tools is not None
        and any(fnmatch.fnmatchcase(AGENT_VALIDATE_TOOL, pattern) for pattern in tools)
        and not any(
            fnmatch.fnmatchcase(AGENT_VALIDATE_TOOL, pattern)
            for pattern in definition.disallowed_tools
        )
    )


def is_agent_file(root: Path, path: str) -> bool:
    """Whether ``path`` (relative to ``root``) is where agent discovery looks for a definition.

    ``agents/NAME.md`` and ``agents/NAME/AGENT.md`` under any folder called ``agents``
    (``.memfun/agents``, ``.claude/agents``, the built-in ``agents/``), ``README.md`` aside,
    and drafts ``agents/_drafts/NAME.md`` (what ``memfun agent accept`` makes an agent).
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
    if len(parts) >= 3 and parts[-3:-1] == ("agents", "_drafts"):  # noqa: PLR2004
        return parts[-1].endswith(".md")  # a draft, accepted later with `memfun agent accept`
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
