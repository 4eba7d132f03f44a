"""Agent definitions: ``AGENT.md`` files and Claude Code subagent files, loaded and found.

Example:
    >>> from memfun_agent.definitions import discover_agents
    >>> catalog = discover_agents(".")
    >>> [agent.name for agent in catalog.all()]  # doctest: +SKIP
    ['coder', 'explorer', ...]
"""

from __future__ import annotations

from memfun_agent.definitions._errors import AgentDefinitionError, AgentRule
from memfun_agent.definitions._loader import (
    AgentValidationReport,
    load_agent_file,
    validate_agent_file,
)
from memfun_agent.definitions._model import (
    AgentBudgets,
    AgentDefinition,
    AgentScope,
    AgentWarning,
)

__all__ = [
    "AgentBudgets",
    "AgentDefinition",
    "AgentDefinitionError",
    "AgentRule",
    "AgentScope",
    "AgentValidationReport",
    "AgentWarning",
    "load_agent_file",
    "validate_agent_file",
]
