"""Agent definitions: ``AGENT.md`` files and Claude Code subagent files, loaded and found.

Example:
    >>> from memfun_agent.definitions import discover_agents
    >>> catalog = discover_agents(".")
    >>> [agent.name for agent in catalog.all()]  # doctest: +SKIP
    ['coder', 'explorer', ...]
"""

from __future__ import annotations

from memfun_agent.definitions._discovery import (
    MAX_AGENT_FILES,
    PROJECT_AGENT_DIRS,
    USER_AGENT_DIRS,
    AgentCatalog,
    AgentRoot,
    InactiveAgent,
    ShadowedAgent,
    SkippedAgent,
    agent_roots,
    builtin_agents_dir,
    discover_agents,
)
from memfun_agent.definitions._errors import AgentDefinitionError, AgentRule
from memfun_agent.definitions._instructions import (
    DEFAULT_INSTRUCTIONS_BYTES,
    INSTRUCTION_FILES,
    load_project_instructions,
)
from memfun_agent.definitions._loader import (
    AGENT_MD,
    AgentValidationReport,
    load_agent_file,
    validate_agent_file,
    validate_agent_text,
)
from memfun_agent.definitions._model import (
    AgentBudgets,
    AgentDefinition,
    AgentScope,
    AgentWarning,
)
from memfun_agent.definitions._tool import AGENT_VALIDATE_TOOL, add_agent_validate_tool
from memfun_agent.definitions._trust import discover_from_config, gate_untrusted_agents

__all__ = [
    "AGENT_MD",
    "AGENT_VALIDATE_TOOL",
    "DEFAULT_INSTRUCTIONS_BYTES",
    "INSTRUCTION_FILES",
    "MAX_AGENT_FILES",
    "PROJECT_AGENT_DIRS",
    "USER_AGENT_DIRS",
    "AgentBudgets",
    "AgentCatalog",
    "AgentDefinition",
    "AgentDefinitionError",
    "AgentRoot",
    "AgentRule",
    "AgentScope",
    "AgentValidationReport",
    "AgentWarning",
    "InactiveAgent",
    "ShadowedAgent",
    "SkippedAgent",
    "add_agent_validate_tool",
    "agent_roots",
    "builtin_agents_dir",
    "discover_agents",
    "discover_from_config",
    "gate_untrusted_agents",
    "load_agent_file",
    "load_project_instructions",
    "validate_agent_file",
    "validate_agent_text",
]
