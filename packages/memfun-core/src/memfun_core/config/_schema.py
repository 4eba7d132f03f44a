"""The shape of Memfun's configuration: one frozen dataclass per section.

Field names are the keys of ``memfun.toml``; defaults are what a missing key means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from memfun_core.config._memory import MemoryConfig
from memfun_core.config._security import SecurityConfig
from memfun_core.config._telemetry import TelemetryConfig
from memfun_core.errors import ConfigError

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")

__all__ = [
    "AgentsConfig",
    "BudgetConfig",
    "LLMConfig",
    "LoggingConfig",
    "MCPConfig",
    "MCPServerConfig",
    "MemfunConfig",
    "MemoryConfig",
    "RuntimeConfig",
    "SandboxConfig",
    "SearchBackendName",
    "SecurityConfig",
    "SkillsConfig",
    "TelemetryConfig",
    "Tier",
    "WebConfig",
]

Tier = Literal["memory", "sqlite", "redis", "nats"]
SandboxBackend = Literal["local", "wasm", "docker", "modal"]
IsolationLevel = Literal["strong", "any"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PromptStyle = Literal["auto", "full", "compact"]


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
    max_step_seconds: float | None = None
    max_repeated_errors: int = 4


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """The model the agent talks to (``[llm]``).

    ``model`` and ``sub_model`` are LiteLLM model strings (``anthropic/claude-sonnet-4-5``,
    ``openai/gpt-4.1``, ``ollama/qwen3``). ``api_key_env`` is the NAME of the environment
    variable that holds the key; a key itself never goes into a config file.
    ``context_window`` is the model's window in tokens (default: asked from a local
    server that says, else unknown); ``max_reply_tokens`` caps each reply (default: 4096,
    1024 for a local server). ``prompt`` is ``full`` (DSPy's and Memfun's whole instructions),
    ``compact`` (short rules, the essential tools and an example, for small models) or
    ``auto`` (compact for a local server).
    """

    model: str | None = None
    api_key_env: str | None = None
    api_base: str | None = None
    sub_model: str | None = None
    budgets: BudgetConfig = field(default_factory=BudgetConfig)
    context_window: int | None = None
    max_reply_tokens: int | None = None
    prompt: PromptStyle = "auto"


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Which backend tier the runtime uses and where it keeps its data (``[runtime]``).

    ``namespace`` prefixes every key, stream and bucket of the ``redis`` and ``nats`` tiers.
    Unset, each project gets its own (``memfun-<folder>-<hash of its path>``), so projects
    sharing a server never share queues, sessions or traces; workers on several hosts name
    one explicitly (in a project file it waits for ``memfun trust``).
    """

    tier: Tier = "sqlite"
    data_dir: str = ".memfun"
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: str = "nats://127.0.0.1:4222"
    namespace: str | None = None

    def __post_init__(self) -> None:
        # The backends' rule (one NATS subject token): checked here, so a bad name is refused
        # when written or loaded, not when a runtime first starts.
        if self.namespace is not None and not _TOKEN.fullmatch(self.namespace):
            raise ConfigError(
                f"{self.namespace!r} is not a namespace: 1 to 64 letters, digits, '_' or '-'",
                key="runtime.namespace",
                hint="use a name like 'acme-shop'",
            )


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
    """Extra places to look for skills, and skills to ignore (``[skills]``).

    Attributes:
        paths: More folders of skills (after the project's, before the user's).
        disabled: Skill names never offered.
        auto: Whether ``memfun ask/fix/...`` and chat turns without ``/name`` activate the
            skill the router ranks best for the task (``--no-skills`` turns it off once).
        min_score: The router score a skill needs to be activated automatically.
        registries: Skill registry indexes (JSON files or http(s) URLs) that ``memfun skill
            search`` and ``install NAME`` read, in order (the first index naming a skill wins).
    """

    paths: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    auto: bool = True
    min_score: float = 2.5
    registries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentsConfig:
    """Agent definitions and the project instructions agents read (``[agents]``).

    Attributes:
        models: Model aliases of agent files (Claude Code's ``sonnet``, ``opus``, ``haiku``)
            to LiteLLM model strings; an alias with no entry inherits the configured model.
        project_instructions: Whether agents read ``AGENTS.md`` (or ``CLAUDE.md``) from the
            project root and the folders down to the files they work on.
        project_instructions_bytes: The most bytes of project instructions an agent reads.
        max_delegation_depth: Delegation levels allowed below a top-level task (``0``: no
            agent may delegate); the default of ``memfun runtime worker --max-depth`` and of
            ``memfun agent run``.
        delegation_timeout_seconds: Seconds a run waits for an agent it delegated to before
            cancelling it (unset: no limit); the default of ``--delegate-timeout``.
    """

    models: dict[str, str] = field(default_factory=dict[str, str])
    project_instructions: bool = True
    project_instructions_bytes: int = 16 * 1024
    max_delegation_depth: int = 3
    delegation_timeout_seconds: float | None = None


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


SearchBackendName = Literal["ddgs", "searxng", "brave"]
_BRAVE_API_URL = "https://api.search.brave.com/res/v1/web/search"


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Options of ``web_fetch`` and ``web_search`` (the ``[web]`` section of ``memfun.toml``).

    Attributes:
        allow_hosts: When non-empty, only these hosts may be fetched. An entry is an exact
            host name (``docs.python.org``) or ``*.`` plus a domain for its subdomains
            (``*.readthedocs.io``). The list narrows access; it never lifts an address rule.
        deny_hosts: Hosts that may never be fetched (same patterns); wins over ``allow_hosts``.
        allow_loopback: Explicit opt-in to fetch from loopback addresses (``127.0.0.0/8``,
            ``::1``, ``localhost``), e.g. a local documentation server. Every other address
            rule (private, link-local, metadata, ...) still applies.
        cache_dir: Folder of the on-disk page cache; ``None`` disables the cache.
        cache_ttl_seconds: How long a cached page is served before it is fetched again.
        cache_max_entries: The cache keeps at most this many pages (oldest go first).
        connect_timeout_seconds: Limit for opening one TCP/TLS connection.
        read_timeout_seconds: Limit for waiting on any single read from the server.
        total_timeout_seconds: Limit for a whole fetch, redirects included.
        max_bytes: Response bodies are read up to this many (decompressed) bytes.
        max_redirects: Redirect hops followed before the fetch is refused.
        max_url_length: Longer URLs are refused.
        user_agent: The ``User-Agent`` header sent with every request.
        search_backend: ``"ddgs"`` (zero configuration), ``"searxng"`` or ``"brave"``.
        search_timeout_seconds: Limit for one search request.
        searxng_url: Base URL of a SearXNG instance (its ``/search`` must allow
            ``format=json``); required for the ``searxng`` backend.
        brave_api_key_env: NAME of the environment variable that holds the Brave Search key.
        brave_url: Endpoint of the Brave Web Search API.
        ddgs_engines: The ``ddgs`` engines to query (``"auto"`` or a comma list such as
            ``"duckduckgo,mojeek"``).
        ddgs_region: The ``ddgs`` region code (``"us-en"``, ``"wt-wt"``, ...).
        ddgs_safesearch: ``"on"``, ``"moderate"`` or ``"off"``.
        ddgs_proxy: Proxy URL for ``ddgs`` (``http://``, ``https://``, ``socks5://``).
        ddgs_ca_bundle: PEM file of extra certificate authorities ``ddgs`` trusts (for a
            TLS-inspecting corporate proxy).
    """

    allow_hosts: tuple[str, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    allow_loopback: bool = False
    cache_dir: str | None = None
    cache_ttl_seconds: float = 3600.0
    cache_max_entries: int = 256
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 20.0
    total_timeout_seconds: float = 60.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    max_url_length: int = 2048
    user_agent: str = "Mozilla/5.0 (compatible; memfun-web/0.1)"
    search_backend: SearchBackendName = "ddgs"
    search_timeout_seconds: float = 15.0
    searxng_url: str | None = None
    brave_api_key_env: str = "BRAVE_API_KEY"
    brave_url: str = _BRAVE_API_URL
    ddgs_engines: str = "auto"
    ddgs_region: str = "us-en"
    ddgs_safesearch: Literal["on", "moderate", "off"] = "moderate"
    ddgs_proxy: str | None = None
    ddgs_ca_bundle: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "cache_ttl_seconds",
            "connect_timeout_seconds",
            "read_timeout_seconds",
            "total_timeout_seconds",
            "search_timeout_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError("must be a positive number of seconds", key=f"web.{name}")
        for name in ("max_bytes", "max_url_length", "cache_max_entries"):
            if getattr(self, name) < 1:
                raise ConfigError("must be a positive integer", key=f"web.{name}")
        if self.max_redirects < 0:
            raise ConfigError("must be zero or more", key="web.max_redirects")
        if self.search_backend == "searxng" and not self.searxng_url:
            raise ConfigError(
                "the searxng search backend needs a SearXNG instance URL",
                key="web.searxng_url",
                hint='set web.searxng_url = "http://127.0.0.1:8888" (your instance)',
            )


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
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    mcp: MCPConfig = field(default_factory=MCPConfig)
    web: WebConfig = field(default_factory=WebConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    sources: tuple[str, ...] = ()
    project_root: str = "."
