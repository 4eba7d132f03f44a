"""The ``web`` MCP server: ``fetch`` and ``search`` tools over FastMCP.

The gateway mounts it with ``namespace="web"``, so clients see ``web_fetch`` and
``web_search``. The tools are declared once in :mod:`memfun_tools.registry`.
"""

from __future__ import annotations

from typing import Any

from fastmcp import FastMCP

from memfun_tools._mcp import mcp_server
from memfun_tools.registry._web import web_tools
from memfun_tools.web._config import WebConfig
from memfun_tools.web._resolve import Resolver
from memfun_tools.web._search import SearchBackend

__all__ = ["build_web_server"]


def build_web_server(
    config: WebConfig | None = None,
    *,
    resolver: Resolver | None = None,
    search_backend: SearchBackend | None = None,
) -> FastMCP[Any]:
    """Build the FastMCP server exposing ``fetch`` and ``search``.

    Args:
        config: The web options (defaults: no cache, ddgs search, loopback refused).
        resolver: How host names are resolved (the operating system by default).
        search_backend: A backend to use instead of the one ``config`` names.

    Returns:
        A server to mount under the ``web`` namespace (or to run on its own).
    """
    return mcp_server(
        "memfun-web", web_tools(config, resolver=resolver, search_backend=search_backend)
    )
