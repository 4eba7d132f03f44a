"""Memfun's own tools called in the agent's process: from their registry, or a FastMCP server.

:class:`RegistryClient` calls the tools of a :class:`memfun_tools.registry.ToolRegistry`
directly: no FastMCP, ``mcp`` or pydantic import, the same tools, argument checks, results
and error texts that ``memfun mcp serve`` (built from the same registry) gives an MCP client.
It is what :func:`memfun_agent.tools.gateway_client` returns.

For any other FastMCP server, an in-memory ``fastmcp.Client`` would also work, but
importing the client costs about a second (its auth module loads the MCP SDK's OAuth client
stack) for a session that only serializes calls to a server living in the same process.
:class:`InProcessClient` offers the three things the tool bridge uses (open/close,
``list_tools``, ``call_tool``) on the server object itself, with the same results an MCP
client would see: the tools as ``tools/list`` describes them, and a tool's failure as an
error result carrying the server's message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from memfun_core.errors import InternalError, MemfunError

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from mcp_types import ContentBlock, Tool

    from memfun_tools.registry import ToolRegistry

__all__ = ["InProcessClient", "InProcessResult", "RegistryClient", "TextBlock"]


@dataclass(frozen=True, slots=True)
class TextBlock:
    """A text content block, shaped as MCP's ``TextContent`` is."""

    text: str
    type: str = "text"


@dataclass(frozen=True, slots=True)
class InProcessResult:
    """A tool call's outcome, shaped as an MCP ``CallToolResult`` is."""

    content: list[ContentBlock | TextBlock] = field(
        default_factory=list["ContentBlock | TextBlock"]
    )
    structured_content: dict[str, Any] | None = None
    is_error: bool = False


class _LocalClient:
    """What both local clients share: ``call_tool`` with an MCP client's signature."""

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the bridge enforces each call's timeout
        raise_on_error: bool = False,
    ) -> InProcessResult:
        """Run one tool; a failure is an error result, as an MCP client returns it.

        ``timeout`` is accepted for the client's signature: the tool bridge already bounds
        each call. ``raise_on_error`` must be false (errors are returned, as by the client).
        """
        del timeout
        if raise_on_error:
            raise InternalError(
                f"{type(self).__name__} returns errors as results: raise_on_error=False"
            )
        return await self._call(name, arguments)

    async def _call(self, name: str, arguments: dict[str, Any]) -> InProcessResult:
        raise NotImplementedError


class InProcessClient(_LocalClient):
    """Calls a FastMCP server's tools directly, without an MCP session.

    Opening it (``async with``) enters the server's lifespan, as a transport does; closing it
    leaves the lifespan (the repo map's cache is closed then). Open and close it on the same
    event loop.
    """

    def __init__(self, server: FastMCP[Any]) -> None:
        """Wrap ``server`` (already built; nothing runs until the client is opened)."""
        self.server = server
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> InProcessClient:
        """Enter the server's lifespan in a task of its own, as a transport's session does.

        The lifespan sets context variables that must be reset in the context that set them,
        so one task enters it, waits for :meth:`__aexit__` and leaves it.
        """
        stop = self._stop = asyncio.Event()
        entered = asyncio.Event()

        async def hold() -> None:
            # FastMCP's own transports enter this manager around a session.
            async with self.server._lifespan_manager():  # pyright: ignore[reportPrivateUsage]
                entered.set()
                await stop.wait()

        task = self._task = asyncio.create_task(hold())
        waiter = asyncio.create_task(entered.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # the lifespan failed to start: raise its error here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the server's lifespan."""
        task, self._task = self._task, None
        if task is not None and self._stop is not None:
            self._stop.set()
            await task

    async def list_tools(self) -> list[Tool]:
        """The server's tools as an MCP client receives them (one per name, highest version)."""
        tools = await self.server.list_tools()
        seen: dict[str, Tool] = {}
        for tool in tools:
            if tool.name not in seen:
                seen[tool.name] = tool.to_mcp_tool(name=tool.name)
        return list(seen.values())

    async def _call(self, name: str, arguments: dict[str, Any]) -> InProcessResult:
        """Run one tool through the server's middleware; a failure is an error result."""
        from fastmcp.exceptions import DisabledError, FastMCPError, NotFoundError
        from mcp_types import TextContent

        try:
            result = await self.server.call_tool(name, arguments)
        except (DisabledError, NotFoundError):
            text = TextContent(type="text", text=f"Unknown tool: {name!r}")
            return InProcessResult(content=[text], is_error=True)
        except FastMCPError as exc:
            return InProcessResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
        return InProcessResult(
            content=list(result.content),
            structured_content=result.structured_content,
            is_error=result.is_error,
        )


class RegistryClient(_LocalClient):
    """Calls the tools of a registry directly (see the module's docstring).

    Closing it (``async with``) closes what the tools hold open (the repo map's cache);
    they reopen on a later call.
    """

    def __init__(self, registry: ToolRegistry) -> None:
        """Wrap ``registry`` (nothing runs until a tool is called)."""
        self.registry = registry

    async def __aenter__(self) -> RegistryClient:
        """Nothing to open: the tools open what they need on their first call."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close what the tools hold open."""
        await self.registry.aclose()

    async def list_tools(self) -> list[Tool]:
        """The tools as an MCP client receives them from the gateway.

        This builds MCP's tool descriptions and so imports FastMCP: it is for comparing
        with a served gateway; the tool bridge reads the registry instead.
        """
        from fastmcp import FastMCP

        from memfun_tools._mcp import RegistryTool

        server: FastMCP[Any] = FastMCP("memfun")
        for tool in self.registry:
            server.add_tool(RegistryTool.from_definition(tool, name=tool.full_name))
        return await InProcessClient(server).list_tools()

    async def _call(self, name: str, arguments: dict[str, Any]) -> InProcessResult:
        """Run one tool; a failure is an error result with the text an MCP client sees."""
        from memfun_tools.registry import to_json_text

        if name not in self.registry:
            return InProcessResult([TextBlock(f"Unknown tool: {name!r}")], is_error=True)
        try:
            value = await self.registry.call(name, arguments)
        except MemfunError as exc:
            return InProcessResult([TextBlock(error_text(exc))], is_error=True)
        return InProcessResult([TextBlock(to_json_text(value))], structured_content=value)


def error_text(exc: MemfunError) -> str:
    """A tool's error as the gateway reports it (``"PermissionDeniedError: ..."``)."""
    return f"{type(exc).__name__}: {exc}"
