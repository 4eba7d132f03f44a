"""The filesystem MCP server (``fs``): read, list, glob, tree; write, edit, multi_edit."""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from memfun_tools._mcp import mcp_server
from memfun_tools._workspace import Workspace
from memfun_tools.registry._fs import fs_tools

__all__ = ["build_fs_server"]


def build_fs_server(ws: Workspace, *, allow_writes: bool = False) -> FastMCP[Any]:
    """Build the filesystem server over ``ws``; write tools only when ``allow_writes``."""
    return mcp_server(
        "memfun-fs",
        fs_tools(ws, allow_writes=allow_writes),
        instructions=f"Files of the workspace {ws.root}.",
    )
