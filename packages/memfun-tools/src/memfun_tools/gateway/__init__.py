"""The MCP tool gateway: one FastMCP server per tool family, mounted under namespaces.

``build_gateway(root)`` serves ``fs_*``, ``search_*``, ``git_*`` and ``repomap_*`` tools; the
caller adds more servers or providers (skills, agents, web) under their own namespaces.
``memfun-tools`` never imports skills or agents: the composition root passes them in.
Run it with ``python -m memfun_tools.gateway --root PATH [--http PORT]``.
"""

from __future__ import annotations

from memfun_tools.gateway._build import RESERVED_NAMESPACES, build_gateway

__all__ = ["RESERVED_NAMESPACES", "build_gateway"]
