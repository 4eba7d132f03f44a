"""Shared pieces of the MCP servers: error translation and tool annotations.

Imported only by the server modules, so FastMCP loads when a server is built, never when
``memfun_tools`` is imported.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

from memfun_core.errors import MemfunError

__all__ = ["DESTRUCTIVE", "DESTRUCTIVE_IDEMPOTENT", "READ_ONLY", "guarded"]

P = ParamSpec("P")
R = TypeVar("R")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
DESTRUCTIVE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
DESTRUCTIVE_IDEMPOTENT = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)


def guarded(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    r"""Turn a :class:`MemfunError` raised by a tool into a clear MCP tool error.

    The client receives ``isError: true`` and a text of the form
    ``"PermissionDeniedError: read '../x' refused: ...\\n  hint: ..."``.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except MemfunError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    return wrapper
