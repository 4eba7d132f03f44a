"""The registry of a workspace: the file, search, git and repo-map tools (and the web's)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_tools._workspace import Limits, Workspace
from memfun_tools.registry._core import ToolRegistry

if TYPE_CHECKING:
    from memfun_tools.web._config import WebConfig

__all__ = ["workspace_tools"]


def workspace_tools(
    root: str | os.PathLike[str] | Workspace,
    *,
    allow_writes: bool = False,
    limits: Limits | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    web: WebConfig | None = None,
) -> ToolRegistry:
    """Memfun's own tools over a workspace, as the gateway serves them.

    Args:
        root: The workspace root (or a :class:`Workspace`); every tool is confined to it.
        allow_writes: Include the tools that change files or the repository
            (``fs_write``, ``fs_edit``, ``fs_multi_edit``, ``git_commit``, ``git_checkout``).
        limits: Size limits of the file tools (only with a root path).
        cache_dir: The folder of the repo map's cache (default ``<root>/.memfun``).
        web: Add ``web_fetch`` and ``web_search`` with these options.

    Raises:
        NotFoundError: When ``root`` is not a folder.
    """
    from memfun_tools.registry._fs import fs_tools
    from memfun_tools.registry._git import git_tools
    from memfun_tools.registry._repomap import repomap_tools
    from memfun_tools.registry._search import search_tools

    ws = root if isinstance(root, Workspace) else Workspace(root, limits=limits)
    cache = Path(cache_dir) / "repomap.sqlite3" if cache_dir is not None else None
    tools = ToolRegistry(
        [
            *fs_tools(ws, allow_writes=allow_writes),
            *search_tools(ws),
            *git_tools(ws, allow_writes=allow_writes),
        ]
    ).merged(repomap_tools(ws, cache_path=cache))
    if web is not None:
        from memfun_tools.registry._web import web_tools

        tools = tools.merged(ToolRegistry(web_tools(web)))
    return tools
