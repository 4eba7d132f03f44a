"""The search MCP server (``search``): regex/text search and structural search."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from memfun_tools._mcp import mcp_server
from memfun_tools._workspace import Workspace
from memfun_tools.registry._search import search_tools

__all__ = ["build_search_server"]


def build_search_server(ws: Workspace) -> FastMCP[Any]:
    """Build the search server over ``ws`` (every tool is read-only)."""
    return mcp_server(
        "memfun-search", search_tools(ws), instructions=f"Search the workspace {ws.root}."
    )
