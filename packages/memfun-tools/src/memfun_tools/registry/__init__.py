"""Memfun's own tools declared once, callable directly or served over MCP.

Each :class:`ToolDef` carries a tool's name, description, JSON schema, hints (read-only,
destructive) and its function. The agent calls them through a :class:`ToolRegistry`
(no FastMCP, ``mcp`` or pydantic import); ``memfun mcp serve`` and the gateway build their
FastMCP servers from the same definitions (:func:`mcp_server`, which imports FastMCP).

Example:
    >>> import asyncio, tempfile
    >>> tools = workspace_tools(tempfile.mkdtemp())
    >>> tools.get("fs_read").hints.read_only
    True
    >>> asyncio.run(tools.call("fs_list", {}))["path"]
    '.'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_tools.registry._build import workspace_tools
from memfun_tools.registry._core import ToolDef, ToolHints, ToolRegistry, to_json, to_json_text
from memfun_tools.registry._validate import validate_arguments

if TYPE_CHECKING:
    from memfun_tools._mcp import mcp_server

__all__ = [
    "ToolDef",
    "ToolHints",
    "ToolRegistry",
    "mcp_server",
    "to_json",
    "to_json_text",
    "validate_arguments",
    "workspace_tools",
]


def __getattr__(name: str) -> Any:
    # mcp_server imports FastMCP: only when it is asked for.
    if name != "mcp_server":
        raise AttributeError(f"module 'memfun_tools.registry' has no attribute {name!r}")
    from memfun_tools._mcp import mcp_server

    return mcp_server
