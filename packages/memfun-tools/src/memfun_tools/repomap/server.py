"""The repo-map MCP server (``repomap``): a ranked, budgeted map of the workspace's code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastmcp import FastMCP

from memfun_tools._mcp import mcp_server
from memfun_tools._workspace import Workspace
from memfun_tools.registry._repomap import repomap_tools

__all__ = ["build_repomap_server"]


def build_repomap_server(ws: Workspace, *, cache_path: Path | None = None) -> FastMCP[Any]:
    """Build the repo-map server over ``ws``; the cache opens on the first call."""
    return mcp_server(
        "memfun-repomap",
        repomap_tools(ws, cache_path=cache_path),
        instructions=f"A ranked map of the code in {ws.root}.",
    )
