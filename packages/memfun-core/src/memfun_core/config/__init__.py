"""Memfun configuration: ``memfun.toml`` files and ``MEMFUN_*`` variables, validated.

Example:
    >>> from memfun_core.config import load_config
    >>> config = load_config()
    >>> config.runtime.tier
    'sqlite'
"""

from __future__ import annotations

from memfun_core.config._load import (
    PROJECT_FILE,
    find_project_file,
    load_config,
    parse_setting,
    project_loosened_settings,
    user_config_path,
)
from memfun_core.config._schema import (
    AgentsConfig,
    BudgetConfig,
    LLMConfig,
    LoggingConfig,
    MCPConfig,
    MCPServerConfig,
    MemfunConfig,
    MemoryConfig,
    RuntimeConfig,
    SandboxConfig,
    SearchBackendName,
    SecurityConfig,
    SkillsConfig,
    TelemetryConfig,
    Tier,
    WebConfig,
)
from memfun_core.config._telemetry import (
    check_otlp_endpoint,
    check_otlp_header,
    expand_env_refs,
)

__all__ = [
    "PROJECT_FILE",
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
    "check_otlp_endpoint",
    "check_otlp_header",
    "expand_env_refs",
    "find_project_file",
    "load_config",
    "parse_setting",
    "project_loosened_settings",
    "user_config_path",
]
