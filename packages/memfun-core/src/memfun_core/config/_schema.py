"""The shape of Memfun's configuration: one frozen dataclass per section.

Field names are the keys of ``memfun.toml``; defaults are what a missing key means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BudgetConfig",
    "LLMConfig",
    "LoggingConfig",
    "MCPConfig",
    "MCPServerConfig",
    "MemfunConfig",
    "RuntimeConfig",
    "SandboxConfig",
    "SkillsConfig",
    "Tier",
]

Tier = Literal["memory", "sqlite", "redis", "nats"]
SandboxBackend = Literal["local", "wasm", "docker", "modal"]
IsolationLevel = Literal["strong", "any"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """Limits that stop an agent run cleanly with a partial result (``[llm.budgets]``).

    ``None`` means unlimited.
    """

    max_iterations: int = 20
    max_llm_calls: int = 50
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = 900.0


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """The model the agent talks to (``[llm]``).

    ``model`` and ``sub_model`` are LiteLLM model strings (``anthropic/claude-sonnet-4-5``,
    ``openai/gpt-4.1``, ``ollama/qwen3``). ``api_key_env`` is the NAME of the environment
    variable that holds the key; a key itself never goes into a config file.
    """

    model: str | None = None
    api_key_env: str | None = None
    api_base: str | None = None
    sub_model: str | None = None
    budgets: BudgetConfig = field(default_factory=BudgetConfig)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Which backend tier the runtime uses and where it keeps its data (``[runtime]``)."""

    tier: Tier = "sqlite"
    data_dir: str = ".memfun"
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: str = "nats://127.0.0.1:4222"
    namespace: str = "memfun"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Where model-written code runs, and its limits (``[sandbox]``)."""

    backend: SandboxBackend = "local"
    require: IsolationLevel = "any"
    unsafe_host: bool = False
    network: bool = False
    timeout_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_mb: int = 2048


@dataclass(frozen=True, slots=True)
class SkillsConfig:
    """Extra places to look for skills, and skills to ignore (``[skills]``)."""

    paths: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MCPServerConfig:
    """One external MCP server (``[mcp.servers.NAME]``), shaped like Claude Code's ``.mcp.json``.

    Exactly one of ``command`` (stdio) or ``url`` (streamable HTTP) is set. Values in
    ``env`` may reference the environment as ``${NAME}``; raw keys are refused.
    """

    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict[str, str])
    url: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class MCPConfig:
    """External MCP servers bridged into the agent (``[mcp]``)."""

    servers: dict[str, MCPServerConfig] = field(default_factory=dict[str, MCPServerConfig])


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """How Memfun logs (``[logging]``)."""

    level: LogLevel = "WARNING"
    json: bool = False


@dataclass(frozen=True, slots=True)
class MemfunConfig:
    """The whole configuration, after files and environment were merged and validated.

    Attributes:
        sources: The files and environment variables that contributed, lowest precedence first.
        project_root: The folder of the project file, or the working directory without one;
            relative paths in the config (``runtime.data_dir``) are relative to it.
    """

    llm: LLMConfig = field(default_factory=LLMConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    mcp: MCPConfig = field(default_factory=MCPConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    sources: tuple[str, ...] = ()
    project_root: str = "."
