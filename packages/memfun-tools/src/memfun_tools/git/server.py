"""The git MCP server (``git``): status, diff, log, show, blame, branches; commit, checkout."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from memfun_tools._mcp import mcp_server
from memfun_tools._workspace import Workspace
from memfun_tools.registry._git import git_tools

__all__ = ["build_git_server"]


def build_git_server(ws: Workspace, *, allow_writes: bool = False) -> FastMCP[Any]:
    """Build the git server over ``ws``; commit and checkout only when ``allow_writes``."""
    return mcp_server(
        "memfun-git",
        git_tools(ws, allow_writes=allow_writes),
        instructions=f"The git repository at {ws.root}.",
    )
