"""memfun-tools: code tools, repo map, web tools and the MCP tool gateway."""

from __future__ import annotations

from importlib.metadata import version as _version

__all__ = ["__version__"]

__version__ = _version("memfun-tools")
