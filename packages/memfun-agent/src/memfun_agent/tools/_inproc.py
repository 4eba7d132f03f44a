"""Memfun's own gateway called in the agent's process, through FastMCP's server API.

An in-memory ``fastmcp.Client`` would also work, but importing the client costs about a
second (its auth module loads the MCP SDK's OAuth client stack) for a session that only
serializes calls to a server living in the same process. :class:`InProcessClient` offers the
three things the tool bridge uses (open/close, ``list_tools``, ``call_tool``) on the server
object itself, with the same results an MCP client would see: the tools as ``tools/list``
describes them, and a tool's failure as an error result carrying the server's message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from memfun_core.errors import InternalError

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from mcp_types import ContentBlock, Tool

__all__ = ["InProcessClient", "InProcessResult"]


@dataclass(frozen=True, slots=True)
class InProcessResult:
    """A tool call's outcome, shaped as an MCP ``CallToolResult`` is."""

    content: list[ContentBlock] = field(default_factory=list["ContentBlock"])
    structured_content: dict[str, Any] | None = None
    is_error: bool = False


class InProcessClient:
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

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the bridge enforces each call's timeout
        raise_on_error: bool = False,
    ) -> InProcessResult:
        """Run one tool through the server's middleware; a failure is an error result.

        ``timeout`` is accepted for the client's signature: the tool bridge already bounds
        each call. ``raise_on_error`` must be false (errors are returned, as by the client).
        """
        del timeout
        if raise_on_error:
            raise InternalError("InProcessClient returns errors as results: raise_on_error=False")
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
