"""The tool bridge: Memfun's tools and external MCP servers, callable from the sandboxed REPL."""

from __future__ import annotations

from memfun_agent.tools._bridge import ToolBridge, ToolCallObserver, describe
from memfun_agent.tools._changes import ChangeTracker
from memfun_agent.tools._mcp import gateway_client, server_client, tool_name
from memfun_agent.tools._permissions import (
    AskCallback,
    Decision,
    PermissionPolicy,
    PermissionRequest,
)
from memfun_agent.tools._spec import Handler, ToolFailed, ToolSpec

__all__ = [
    "AskCallback",
    "ChangeTracker",
    "Decision",
    "Handler",
    "PermissionPolicy",
    "PermissionRequest",
    "ToolBridge",
    "ToolCallObserver",
    "ToolFailed",
    "ToolSpec",
    "describe",
    "gateway_client",
    "server_client",
    "tool_name",
]
