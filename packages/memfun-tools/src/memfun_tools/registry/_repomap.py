"""The repo-map tool (``repomap_map``): a ranked, budgeted map of the workspace's code."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_tools._workspace import Workspace
from memfun_tools.registry._core import READ_ONLY, ToolDef, ToolRegistry
from memfun_tools.registry._schema import array, integer, nullable, params
from memfun_tools.repomap._results import RepoMapResult

if TYPE_CHECKING:
    from memfun_tools.repomap._map import RepoMap

__all__ = ["repomap_tools"]


def repomap_tools(ws: Workspace, *, cache_path: Path | None = None) -> ToolRegistry:
    """The repo-map tool over ``ws``.

    Its cache opens on the first call and closes with the registry
    (:meth:`ToolRegistry.aclose`), to reopen on a later call.
    """
    holder: list[RepoMap] = []
    lock = asyncio.Lock()

    async def repo_map() -> RepoMap:
        async with lock:
            if not holder:
                from memfun_tools.repomap._map import RepoMap

                holder.append(RepoMap(ws, cache_path=cache_path))
            return holder[0]

    async def close() -> None:
        async with lock:
            for built in holder:
                built.close()
            holder.clear()

    async def map_(
        mentioned_files: list[str] | None, mentioned_idents: list[str] | None, token_budget: int
    ) -> RepoMapResult:
        built = await repo_map()
        return await built.build(
            mentioned_files=mentioned_files or (),
            mentioned_idents=mentioned_idents or (),
            token_budget=token_budget,
        )

    names = array({"type": "string"})
    tool = ToolDef(
        "repomap",
        "map",
        "Files and their most important definitions, ranked by PageRank over references."
        "\n\nPersonalized toward the mentioned files and identifiers; fitted to the token "
        "budget.",
        params(
            mentioned_files=nullable(names, "Files the task is about."),
            mentioned_idents=nullable(names, "Identifiers the task mentions."),
            token_budget=integer("Most tokens of map text.", ge=64, le=200_000, default=1024),
        ),
        READ_ONLY,
        RepoMapResult,
        map_,
    )
    return ToolRegistry([tool], closers=[close])
