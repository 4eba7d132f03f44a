"""The repo-map MCP server (``repomap``): a ranked, budgeted map of the workspace's code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.server.lifespan import lifespan
from pydantic import Field

from memfun_tools._mcp import READ_ONLY, guarded
from memfun_tools._workspace import Workspace
from memfun_tools.repomap._map import RepoMap
from memfun_tools.repomap._results import RepoMapResult

__all__ = ["build_repomap_server"]


def build_repomap_server(ws: Workspace, *, cache_path: Path | None = None) -> FastMCP:
    """Build the repo-map server over ``ws``; the cache opens on the first call.

    The cache is closed when the server's lifespan ends (and reopened by a later session).
    """
    holder: list[RepoMap] = []
    lock = asyncio.Lock()

    @lifespan
    async def close_cache(_server: FastMCP[Any]) -> AsyncIterator[dict[str, Any] | None]:
        try:
            yield None
        finally:
            async with lock:
                for repo_map in holder:
                    repo_map.close()
                holder.clear()

    server = FastMCP(
        "memfun-repomap",
        instructions=f"A ranked map of the code in {ws.root}.",
        lifespan=close_cache,
    )

    async def repo_map() -> RepoMap:
        async with lock:
            if not holder:
                holder.append(RepoMap(ws, cache_path=cache_path))
            return holder[0]

    @guarded
    async def map(
        mentioned_files: Annotated[
            list[str] | None, Field(description="Files the task is about.")
        ] = None,
        mentioned_idents: Annotated[
            list[str] | None, Field(description="Identifiers the task mentions.")
        ] = None,
        token_budget: Annotated[
            int, Field(ge=64, le=200_000, description="Most tokens of map text.")
        ] = 1024,
    ) -> RepoMapResult:
        """Files and their most important definitions, ranked by PageRank over references.

        Personalized toward the mentioned files and identifiers; fitted to the token budget.
        """
        built = await repo_map()
        return await built.build(
            mentioned_files=mentioned_files or (),
            mentioned_idents=mentioned_idents or (),
            token_budget=token_budget,
        )

    server.tool(map, name="map", annotations=READ_ONLY)
    return server
