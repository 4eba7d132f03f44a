"""MCP servers built from the tool registry, and pieces shared by the hand-built servers.

Imported only when a server is built, so FastMCP loads then, never when ``memfun_tools``
(or its registry) is imported.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Annotated, Any, ParamSpec, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.lifespan import lifespan
from fastmcp.tools import Tool
from fastmcp.tools.base import ToolResult
from mcp.types import TextContent, ToolAnnotations
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from memfun_core.errors import MemfunError
from memfun_tools.registry import ToolDef, ToolHints, ToolRegistry, to_json_text

__all__ = [
    "DESTRUCTIVE",
    "DESTRUCTIVE_IDEMPOTENT",
    "READ_ONLY",
    "RegistryTool",
    "guarded",
    "mcp_annotations",
    "mcp_server",
]

P = ParamSpec("P")
R = TypeVar("R")


def mcp_annotations(hints: ToolHints) -> ToolAnnotations:
    """A tool's hints as MCP's tool annotations."""
    return ToolAnnotations(
        read_only_hint=hints.read_only,
        destructive_hint=hints.destructive,
        idempotent_hint=hints.idempotent,
        open_world_hint=hints.open_world,
    )


READ_ONLY = mcp_annotations(ToolHints(read_only=True, destructive=False, idempotent=True))
DESTRUCTIVE = mcp_annotations(ToolHints(read_only=False, destructive=True, idempotent=False))
DESTRUCTIVE_IDEMPOTENT = mcp_annotations(
    ToolHints(read_only=False, destructive=True, idempotent=True)
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


@functools.cache
def _output_schema(result_type: type) -> dict[str, Any] | None:
    """The output schema FastMCP derives for a function returning ``result_type``."""
    from fastmcp.tools.function_parsing import ParsedFunction

    async def returns() -> None:
        return None

    returns.__annotations__ = {"return": result_type}
    return ParsedFunction.from_function(returns).output_schema


class RegistryTool(Tool):
    """A FastMCP tool that runs a :class:`ToolDef` (the registry checks the arguments)."""

    definition: Annotated[SkipJsonSchema[Any], Field(exclude=True)] = None

    @classmethod
    def from_definition(cls, tool: ToolDef, *, name: str | None = None) -> RegistryTool:
        """The MCP tool for ``tool``, named ``name`` (default: its name in its family)."""
        return cls(
            name=name or tool.name,
            title=tool.title,
            description=tool.description,
            parameters=dict(tool.input_schema),
            output_schema=_output_schema(tool.result_type),
            annotations=mcp_annotations(tool.hints),
            definition=tool,
        )

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool; a :class:`MemfunError` becomes the tool error the client sees."""
        tool: ToolDef = self.definition
        try:
            value = await tool.invoke(arguments)
        except MemfunError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc
        return ToolResult(
            content=[TextContent(type="text", text=to_json_text(value))],
            structured_content=value,
        )


def mcp_server(
    name: str, tools: ToolRegistry | Iterable[ToolDef], *, instructions: str | None = None
) -> FastMCP[Any]:
    """A FastMCP server offering ``tools`` under their names in their family.

    A :class:`ToolRegistry` is closed when the server's lifespan ends (the repo map's
    cache; it reopens on a later call).
    """
    registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)

    @lifespan
    async def close_tools(_server: FastMCP[Any]) -> AsyncIterator[dict[str, Any] | None]:
        try:
            yield None
        finally:
            await registry.aclose()

    server: FastMCP[Any] = FastMCP(name, instructions=instructions, lifespan=close_tools)
    for tool in registry:
        server.add_tool(RegistryTool.from_definition(tool))
    return server
