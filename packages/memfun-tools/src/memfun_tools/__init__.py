"""memfun-tools: code tools, repo map, web tools and the MCP tool gateway.

The tools are plain typed async functions over a :class:`Workspace` (``memfun_tools.fs``,
``memfun_tools.search``, ``memfun_tools.git``, ``memfun_tools.repomap``), each declared once
as a tool in ``memfun_tools.registry`` (name, description, schema, hints, function). The
agent calls the registry directly; the MCP servers and the gateway
(``memfun_tools.gateway``) are built from it and import FastMCP only when they are built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_tools._workspace import Limits, Workspace, is_git_path

if TYPE_CHECKING:
    __version__: str

__all__ = ["Limits", "Workspace", "__version__", "is_git_path"]


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~40 ms at start-up: read the version only when asked.
    if name != "__version__":
        raise AttributeError(f"module 'memfun_tools' has no attribute {name!r}")
    from importlib.metadata import version

    value = version("memfun-tools")
    globals()["__version__"] = value
    return value
