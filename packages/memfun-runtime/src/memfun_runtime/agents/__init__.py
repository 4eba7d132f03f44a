"""Agents: ``BaseAgent``, the ``@handler`` and ``@agent`` decorators, and ``AgentManager``."""

from __future__ import annotations

from memfun_runtime.agents._base import BaseAgent
from memfun_runtime.agents._decorator import FunctionAgent, agent
from memfun_runtime.agents._handlers import HandlerSpec, handler
from memfun_runtime.agents._manager import AgentFactory, AgentManager, AgentState, AgentStatus

__all__ = [
    "AgentFactory",
    "AgentManager",
    "AgentState",
    "AgentStatus",
    "BaseAgent",
    "FunctionAgent",
    "HandlerSpec",
    "agent",
    "handler",
]
