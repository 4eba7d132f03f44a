"""Agents on the runtime: dispatch a task to an agent, run definitions as runtime agents.

:func:`dispatch` enqueues a task on the runtime's TaskQueue (queue ``agents.<name>``, or
the agent found for a capability in the AgentRegistry) and waits for its result record;
:class:`DefinedAgent` (built with :func:`defined_agent`) leases those tasks and runs an
:class:`~memfun_agent.definitions.AgentDefinition` with :class:`~memfun_agent.RLMAgent`.
The same code runs in one process (T0/T1) and across worker processes (T1-T3). Importing
this package loads no model library.

Example:
    >>> from memfun_agent.dispatch import dispatch
    >>> result = await dispatch(runtime, "review src/app.py", agent="reviewer")  # doctest: +SKIP
    >>> result.ok, result.answer  # doctest: +SKIP
"""

from __future__ import annotations

from memfun_agent.dispatch._configured import setup_from_config
from memfun_agent.dispatch._defined import AgentSetup, DefinedAgent, defined_agent, tool_filter
from memfun_agent.dispatch._delegate import CAPABILITY_TOOL, DELEGATE_TOOL
from memfun_agent.dispatch._dispatch import (
    DEFINED_AGENT_KIND,
    dispatch,
    find_agent,
    request_cancel,
)
from memfun_agent.dispatch._records import (
    DEFAULT_MAX_DEPTH,
    QUEUE_PREFIX,
    AgentTaskResult,
    DispatchParent,
    TaskPayload,
    cancel_key,
    queue_of,
    started_key,
)
from memfun_agent.dispatch._serve import load_agents, run_agent_worker, serve_agents

__all__ = [
    "CAPABILITY_TOOL",
    "DEFAULT_MAX_DEPTH",
    "DEFINED_AGENT_KIND",
    "DELEGATE_TOOL",
    "QUEUE_PREFIX",
    "AgentSetup",
    "AgentTaskResult",
    "DefinedAgent",
    "DispatchParent",
    "TaskPayload",
    "cancel_key",
    "defined_agent",
    "dispatch",
    "find_agent",
    "load_agents",
    "queue_of",
    "request_cancel",
    "run_agent_worker",
    "serve_agents",
    "setup_from_config",
    "started_key",
    "tool_filter",
]
