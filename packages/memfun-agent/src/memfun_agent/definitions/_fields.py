"""Turning an agent file's frontmatter into :class:`AgentDefinition` fields.

Claude Code's subagent fields (camelCase) load unchanged; Memfun's own fields are kebab-case
(``read-only``, ``budgets: {max-iterations: ...}``). Fields Memfun cannot honour load with a
warning that names them; values of the wrong shape are errors that name line and field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from memfun_agent.definitions._errors import AgentDefinitionError, AgentRule
from memfun_agent.definitions._model import AgentBudgets, AgentWarning
from memfun_core.config import AgentsConfig
from memfun_skills import ToolGrant, check_name, map_allowed_tools, split_tool_entries

__all__ = ["CLAUDE_MODEL_ALIASES", "MAX_DESCRIPTION_CHARS", "WRITE_TOOLS", "interpret"]

MAX_DESCRIPTION_CHARS = 8 * 1024
"""Claude Code descriptions often carry ``<example>`` blocks: longer than a skill's 1024."""
CLAUDE_MODEL_ALIASES = ("sonnet", "opus", "haiku")
WRITE_TOOLS = frozenset({"fs_write", "fs_edit", "fs_multi_edit", "git_commit", "git_checkout"})
"""Tools that change the workspace (with the sandboxed ``shell``, which can too)."""
_SHELL = "shell"
_PERMISSION_MODES = frozenset(
    {"default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"}
)
_UNHONOURED = {
    "memory": "Memfun keeps memory per project and user (MEMORY.md), not per agent",
    "hooks": "Memfun runs no hooks from agent files (a file must not name a host command)",
    "background": "Memfun decides where a run happens (in process or on a worker)",
    "isolation": "use the Memfun field 'sandbox' (any or strong)",
    "effort": "Memfun has no effort setting; use 'budgets'",
}
_NATIVE = re.compile(r"^[a-z][a-z0-9_]*\*?$")
"""A Memfun tool name (``fs_read``) or pattern (``git_*``), used as written."""
_DELEGATION = re.compile(r"^(?:Agent|Task)(?:\((?P<names>[^)]*)\))?$")
_BUDGET_KEYS = {
    "max-iterations": ("max_iterations", int),
    "max-llm-calls": ("max_llm_calls", int),
    "max-tokens": ("max_tokens", int),
    "max-cost-usd": ("max_cost_usd", float),
    "max-wall-seconds": ("max_wall_seconds", float),
}
_KNOWN = frozenset(
    {
        "name",
        "description",
        "tools",
        "disallowedTools",
        "model",
        "permissionMode",
        "maxTurns",
        "skills",
        "mcpServers",
        "color",
        "budgets",
        "sandbox",
        "capabilities",
        "delegates",
        "read-only",
    }
)


@dataclass
class Reader:
    """The state of reading one frontmatter: where it is, and what was forgiven."""

    file: str
    frontmatter: str
    first_line: int = 2
    warnings: list[AgentWarning] = field(default_factory=list[AgentWarning])

    def line(self, key: str) -> int | None:
        """The file line of the top-level ``key``, when it can be found."""
        pattern = re.compile(rf"^(['\"]?){re.escape(key)}\1\s*:")
        for index, text in enumerate(self.frontmatter.split("\n")):
            if pattern.match(text):
                return self.first_line + index
        return None

    def error(self, key: str, message: str, rule: str, hint: str) -> AgentDefinitionError:
        """An error about ``key``, at its line."""
        return AgentDefinitionError(
            message, field=key, rule=rule, file=self.file, line=self.line(key), hint=hint
        )

    def warn(self, key: str, message: str, rule: AgentRule) -> None:
        """Record a warning about ``key``, at its line."""
        self.warnings.append(AgentWarning(message, key, str(rule), self.file, self.line(key)))


def _string(reader: Reader, data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise reader.error(
            key, "must be a string", AgentRule.FIELD_TYPE, f"write '{key}: value' on one line"
        )
    return value.strip() or None


def _entries(reader: Reader, data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    """A list written as one string (commas or spaces) or as a YAML list of strings."""
    value: object = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return split_tool_entries(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):  # pyright: ignore[reportUnknownVariableType]
        items: list[str] = [str(item).strip() for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return tuple(item for item in items if item)
    rule = AgentRule.TOOLS_TYPE if key in {"tools", "disallowedTools"} else AgentRule.FIELD_TYPE
    shape = _shape(cast("object", value))
    raise reader.error(
        key,
        f"must be a list of strings or one comma-separated string, not a {shape}",
        rule,
        f"write '{key}: Read, Grep' or '{key}: [Read, Grep]'",
    )


def _shape(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    return "list with a nested value" if isinstance(value, list) else type(value).__name__


def _required_text(
    reader: Reader, data: Mapping[str, Any], key: str, *, missing: str, empty: str
) -> str:
    """The non-empty string field ``key``; ``missing`` and ``empty`` are the errors' hints."""
    raw = data.get(key)
    if raw is None:
        raise AgentDefinitionError(
            "is required",
            field=key,
            rule=AgentRule.REQUIRED,
            file=reader.file,
            line=1,
            hint=missing,
        )
    if not isinstance(raw, str) or not raw.strip():
        raise reader.error(key, "must be a non-empty string", AgentRule.NON_EMPTY_STRING, empty)
    return raw


def _name(reader: Reader, data: Mapping[str, Any]) -> str:
    name = _required_text(
        reader,
        data,
        "name",
        missing="add 'name: my-agent' to the frontmatter (lowercase letters, digits, hyphens)",
        empty="name: my-agent",
    ).strip()
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise reader.error(
            "name",
            f"{name!r} contains a path separator; an agent name is not a path",
            AgentRule.NAME_PATH_SEPARATOR,
            "use lowercase letters, digits and hyphens only, e.g. 'code-reviewer'",
        )
    problems = check_name(name, reader.file)
    if problems:
        first = problems[0]
        message = first.message.removeprefix(f"{first.location}: name: ")
        raise reader.error(
            "name",
            message.replace("skill name", "agent name"),
            first.rule,
            first.hint or "use lowercase letters, digits and single hyphens",
        )
    return name


def _description(reader: Reader, data: Mapping[str, Any]) -> str:
    raw = _required_text(
        reader,
        data,
        "description",
        missing="say what the agent does and when to use it (the orchestrator matches it)",
        empty="say what the agent does and when to use it",
    )
    if len(raw) > MAX_DESCRIPTION_CHARS:
        raise reader.error(
            "description",
            f"has {len(raw)} characters; the limit is {MAX_DESCRIPTION_CHARS}",
            AgentRule.DESCRIPTION_TOO_LONG,
            "move details into the body (the agent's instructions)",
        )
    return raw.strip()


@dataclass(frozen=True, slots=True)
class ToolFields:
    """What ``tools`` and ``disallowedTools`` say, in Memfun's terms."""

    tools: tuple[str, ...] | None
    grants: tuple[ToolGrant, ...]
    disallowed: tuple[str, ...]
    delegates: tuple[str, ...]


def _map(reader: Reader, key: str, entries: tuple[str, ...]) -> tuple[list[ToolGrant], list[str]]:
    """Tool entries to grants: Claude names mapped, Memfun names (``fs_read``) kept.

    ``Agent(x)``/``Task(x)`` entries become delegates (``Agent`` alone: any agent).
    """
    delegates: list[str] = []
    grants: list[ToolGrant] = []
    unmapped: list[str] = []
    for entry in entries:
        match = _DELEGATION.match(entry)
        if match is not None:
            names = match.group("names")
            delegates += split_tool_entries(names) if names is not None else ["*"]
        elif _NATIVE.match(entry) and not entry.startswith("mcp__"):
            grants.append(ToolGrant(entry, entry))
        else:
            mapped, missing = map_allowed_tools([entry])
            grants += mapped
            unmapped += missing
    if unmapped:
        reader.warn(
            key,
            f"Memfun has no tool for {', '.join(map(repr, unmapped))}; "
            "they are left out (see the mapping table in docs/agents.md)",
            AgentRule.UNMAPPED_TOOL,
        )
    return grants, delegates


def _tools(reader: Reader, data: Mapping[str, Any]) -> ToolFields:
    entries = _entries(reader, data, "tools")
    if entries == () and isinstance(data.get("tools"), str):
        reader.warn(
            "tools",
            "is empty, so the agent gets every default tool (write 'tools: []' for none)",
            AgentRule.FIELD_VALUE,
        )
        entries = None
    grants: list[ToolGrant] = []
    delegates: list[str] = []
    if entries is not None:
        grants, delegates = _map(reader, "tools", entries)
    denied_entries = _entries(reader, data, "disallowedTools") or ()
    denied, denied_delegates = _map(reader, "disallowedTools", denied_entries)
    if denied_delegates:
        reader.warn(
            "disallowedTools",
            "Agent/Task entries are ignored here; list the agents it may use in 'delegates'",
            AgentRule.UNMAPPED_TOOL,
        )
    if any(grant.command_prefix or grant.path_pattern for grant in denied):
        reader.warn(
            "disallowedTools",
            "Memfun removes a whole tool, not one command or path of it",
            AgentRule.FIELD_VALUE,
        )
    tools = None if entries is None else tuple(dict.fromkeys(grant.tool for grant in grants))
    return ToolFields(
        tools=tools,
        grants=tuple(grants),
        disallowed=tuple(dict.fromkeys(grant.tool for grant in denied)),
        delegates=tuple(delegates),
    )


def _model(reader: Reader, data: Mapping[str, Any], config: AgentsConfig) -> str | None:
    model = _string(reader, data, "model")
    if model is None or model == "inherit":
        return None
    if model in config.models:
        return config.models[model]
    if model in CLAUDE_MODEL_ALIASES:
        reader.warn(
            "model",
            f"{model!r} is a Claude Code alias with no entry in [agents.models] of memfun.toml; "
            "the agent uses the configured model",
            AgentRule.MODEL_ALIAS,
        )
        return None
    return model


def _permission_mode(reader: Reader, data: Mapping[str, Any]) -> str | None:
    mode = _string(reader, data, "permissionMode")
    if mode is None or mode == "default":
        return mode
    if mode not in _PERMISSION_MODES:
        reader.warn(
            "permissionMode",
            f"{mode!r} is not a mode Memfun knows; Memfun's permission policy applies",
            AgentRule.PERMISSION_MODE,
        )
    elif mode != "plan":
        reader.warn(
            "permissionMode",
            f"{mode!r} cannot lift Memfun's permission policy: each call is still allowed, "
            "asked or denied as configured",
            AgentRule.PERMISSION_MODE,
        )
    return mode


def _number(reader: Reader, key: str, raw: object, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(str(raw)) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise reader.error(
            key,
            f"must be a positive {'integer' if kind is int else 'number'}, not {raw!r}",
            AgentRule.FIELD_TYPE,
            f"write e.g. '{key.rsplit('.', 1)[-1]}: 10'",
        )
    return value


def _budgets(reader: Reader, data: Mapping[str, Any]) -> AgentBudgets:
    values: dict[str, int | float] = {}
    raw = data.get("budgets")
    if raw is not None and not isinstance(raw, dict):
        raise reader.error(
            "budgets",
            "must be a mapping",
            AgentRule.FIELD_TYPE,
            "write 'budgets:' then indented lines such as '  max-iterations: 12'",
        )
    for key, value in cast("dict[str, Any]", raw or {}).items():
        spec = _BUDGET_KEYS.get(key.replace("_", "-"))
        if spec is None:
            raise reader.error(
                "budgets",
                f"unknown budget {key!r}",
                AgentRule.FIELD_VALUE,
                "budgets are " + ", ".join(_BUDGET_KEYS),
            )
        values[spec[0]] = _number(reader, f"budgets.{key}", value, spec[1])
    if "maxTurns" in data:
        turns = _number(reader, "maxTurns", data["maxTurns"], int)
        if "max_iterations" in values and values["max_iterations"] != turns:
            reader.warn(
                "maxTurns",
                "budgets.max-iterations is also set; it wins over maxTurns",
                AgentRule.FIELD_VALUE,
            )
        values.setdefault("max_iterations", turns)
    return AgentBudgets(**values)  # pyright: ignore[reportArgumentType]


def _flag(reader: Reader, data: Mapping[str, Any], key: str) -> bool | None:
    raw = data.get(key)
    if raw is None:
        return None
    text = raw.strip().lower() if isinstance(raw, str) else None
    if text in {"true", "yes", "on"}:
        return True
    if text in {"false", "no", "off"}:
        return False
    raise reader.error(
        key, f"must be true or false, not {raw!r}", AgentRule.FIELD_TYPE, f"{key}: true"
    )


def _sandbox(reader: Reader, data: Mapping[str, Any]) -> str | None:
    sandbox = _string(reader, data, "sandbox")
    if sandbox is not None and sandbox not in {"any", "strong"}:
        raise reader.error(
            "sandbox",
            f"must be 'any' or 'strong', not {sandbox!r}",
            AgentRule.FIELD_VALUE,
            "'strong' refuses to run the agent where only a weak sandbox exists",
        )
    return sandbox


def _mcp_servers(reader: Reader, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    raw = data.get("mcpServers")
    if raw is None:
        return None
    items: list[Any] = list(raw) if isinstance(raw, list) else [raw]  # pyright: ignore[reportUnknownArgumentType]
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            names += split_tool_entries(item)
        elif isinstance(item, dict):
            reader.warn(
                "mcpServers",
                f"inline server definitions ({', '.join(map(repr, item))}) are not started from "  # pyright: ignore[reportUnknownArgumentType]
                "agent files (a file must not name a command the host runs); "
                "add them to [mcp.servers] in memfun.toml and list their names here",
                AgentRule.UNHONOURED_FIELD,
            )
        else:
            raise reader.error(
                "mcpServers",
                "must be a list of server names",
                AgentRule.FIELD_TYPE,
                "mcpServers: [github, sentry]",
            )
    return tuple(names)


def _read_only(
    reader: Reader, data: Mapping[str, Any], mode: str | None, tools: ToolFields
) -> tuple[bool, ToolFields]:
    explicit = _flag(reader, data, "read-only")
    read_only = bool(explicit) or mode == "plan"
    writers = [g for g in tools.grants if g.tool in WRITE_TOOLS or g.tool == _SHELL]
    if not read_only or not writers:
        return read_only, tools
    sources = ", ".join(grant.source for grant in writers)
    if explicit:
        raise reader.error(
            "tools",
            f"a read-only agent cannot list tools that change files ({sources})",
            AgentRule.READ_ONLY_CONFLICT,
            "remove them from 'tools', or set 'read-only: false'",
        )
    reader.warn(
        "permissionMode",
        f"plan mode is read-only: {sources} are left out",
        AgentRule.PERMISSION_MODE,
    )
    grants = tuple(g for g in tools.grants if g not in writers)
    kept = tuple(dict.fromkeys(grant.tool for grant in grants))
    return True, ToolFields(kept, grants, tools.disallowed, tools.delegates)


def _extra(reader: Reader, data: Mapping[str, Any]) -> dict[str, object]:
    extra: dict[str, object] = {}
    for key, value in data.items():
        if key in _KNOWN:
            continue
        extra[key] = value
        if key in _UNHONOURED:
            reader.warn(key, f"is not honoured: {_UNHONOURED[key]}", AgentRule.UNHONOURED_FIELD)
        else:
            reader.warn(
                key, "is not a field Memfun knows; it is kept but not used", AgentRule.UNKNOWN_FIELD
            )
    return extra


def interpret(reader: Reader, data: Mapping[str, Any], config: AgentsConfig) -> dict[str, Any]:
    """The :class:`AgentDefinition` keyword arguments a frontmatter mapping gives.

    Raises:
        AgentDefinitionError: A required field is missing or a field has the wrong shape.
    """
    name = _name(reader, data)
    description = _description(reader, data)
    tools = _tools(reader, data)
    mode = _permission_mode(reader, data)
    read_only, tools = _read_only(reader, data, mode, tools)
    delegates = (*tools.delegates, *(_entries(reader, data, "delegates") or ()))
    return {
        "name": name,
        "description": description,
        "tools": tools.tools,
        "tool_grants": tools.grants,
        "disallowed_tools": tools.disallowed,
        "model": _model(reader, data, config),
        "skills": _entries(reader, data, "skills") or (),
        "capabilities": _entries(reader, data, "capabilities") or (),
        "delegates": tuple(dict.fromkeys(delegates)),
        "budgets": _budgets(reader, data),
        "sandbox": _sandbox(reader, data),
        "permission_mode": mode,
        "read_only": read_only,
        "mcp_servers": _mcp_servers(reader, data),
        "color": _string(reader, data, "color"),
        "extra": _extra(reader, data),
    }
