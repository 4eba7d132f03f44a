"""memfun-tools: code tools, repo map, web tools and the MCP tool gateway.

The tools are plain typed async functions over a :class:`Workspace` (``memfun_tools.fs``,
``memfun_tools.search``, ``memfun_tools.git``, ``memfun_tools.repomap``); the MCP servers
and the gateway (``memfun_tools.gateway``) import FastMCP only when they are built.
"""

from __future__ import annotations

from importlib.metadata import version as _version

from memfun_tools._workspace import Limits, Workspace, is_git_path

__all__ = ["Limits", "Workspace", "__version__", "is_git_path"]

__version__ = _version("memfun-tools")
