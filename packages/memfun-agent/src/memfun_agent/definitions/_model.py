"""The value object of an agent definition (``AGENT.md`` or a Claude Code subagent file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memfun_skills import ToolGrant

__all__ = ["AgentBudgets", "AgentDefinition", "AgentScope", "AgentWarning"]

AgentScope = Literal["project", "user", "builtin", "inline"]
"""Where a definition was found; ``inline`` is one built in code (tests, the orchestrator)."""


@dataclass(frozen=True, slots=True)
class AgentWarning:
    """Something in an agent file Memfun loaded anyway (an unhonoured field, an alias...).

    Attributes:
        message: What is off, in one sentence.
        field: The frontmatter field concerned.
        rule: The stable rule id (``unhonoured-field``, ``unknown-field``...).
        file: The file it came from.
        line: The 1-based line of the field in that file, when known.
    """

    message: str
    field: str
    rule: str
    file: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class AgentBudgets:
    """Per-agent limits that override ``[llm.budgets]``; ``None`` keeps the configured one.

    Attributes:
        max_iterations: REPL steps (Claude Code's ``maxTurns`` maps here).
        max_llm_calls: Sub-LLM calls.
        max_tokens: Tokens over the whole run.
        max_cost_usd: Dollars over the whole run (delegated children included).
        max_wall_seconds: Wall-clock seconds of the whole run.
    """

    max_iterations: int | None = None
    max_llm_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """One agent: who it is, what it may use, and its instructions.

    Attributes:
        name: Lowercase letters, digits and single hyphens (the task-queue address).
        description: When to use this agent (what the orchestrator and router match).
        instructions: The Markdown body: the agent's system instructions.
        tools: Memfun tool names (or ``prefix*`` patterns) the agent may call, mapped from
            Claude tool names; ``None`` means every tool the agent has by default.
        disallowed_tools: Memfun tool names (or patterns) removed from ``tools``.
        model: A LiteLLM model string, or ``None`` to inherit the configured model
            (``inherit`` and the ``sonnet``/``opus``/``haiku`` aliases are resolved through
            ``[agents.models]`` at load time).
        skills: Skills preloaded into the agent's instructions.
        capabilities: What it can do, announced in the agent registry and matched by
            ``delegate(capability=...)``.
        delegates: Agent names it may delegate to; ``("*",)`` allows any, ``()`` none.
        budgets: Limits overriding the configured budgets.
        sandbox: The sandbox isolation it requires (``"any"``, ``"strong"``...), or ``None``.
        permission_mode: Claude Code's ``permissionMode`` (``default``, ``acceptEdits``,
            ``plan``, ``bypassPermissions``...), or ``None``.
        read_only: Whether the agent may not change files (no write tools at all).
        mcp_servers: Names of configured MCP servers it may use (``None``: all configured).
        color: Display color (Claude Code's ``color``), only shown.
        extra: Fields Memfun does not honour, kept as read (each also produced a warning).
        path: The file it was loaded from (``None`` for an inline definition).
        scope: Where it was found.
        tool_grants: The grants ``tools`` came from, with their limits: a grant with a
            ``command_prefix`` (``Bash(npm test:*)``) or a ``path_pattern`` (``Edit(src/**)``)
            allows only matching calls (``ToolGrant.allows``). Empty for an inline
            definition or when ``tools`` is ``None``.
        warnings: What was loaded anyway (unhonoured or unknown fields, unmapped tools).
    """

    name: str
    description: str
    instructions: str = ""
    tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] = ()
    model: str | None = None
    skills: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    delegates: tuple[str, ...] = ()
    budgets: AgentBudgets = field(default_factory=AgentBudgets)
    sandbox: str | None = None
    permission_mode: str | None = None
    read_only: bool = False
    mcp_servers: tuple[str, ...] | None = None
    color: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict[str, object])
    path: Path | None = None
    scope: AgentScope = "inline"
    tool_grants: tuple[ToolGrant, ...] = ()
    warnings: tuple[AgentWarning, ...] = ()

    def may_delegate_to(self, name: str) -> bool:
        """Whether this agent may hand a sub-task to the agent called ``name``."""
        return "*" in self.delegates or name in self.delegates
