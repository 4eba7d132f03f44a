"""A tool server built in the background, so a served gateway answers ``initialize`` first.

``memfun mcp serve`` used to build every tool server (importing their modules and the web
stack) before it read its first message; a client waiting for ``initialize`` waited for all
of it. :class:`DeferredProvider` stands in for a server: when the gateway's lifespan starts it
builds the real server in a worker thread (the event loop keeps answering meanwhile), and the
first ``tools/list`` or ``tools/call`` waits for that build. A build that fails is an MCP
error naming the server and the cause on every later request, never an empty tool list.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastmcp.server.providers import Provider
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INTERNAL_ERROR

from memfun_core.errors import ValidationError

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.prompts import Prompt
    from fastmcp.resources import Resource, ResourceTemplate
    from fastmcp.tools import Tool
    from fastmcp.utilities.components import FastMCPComponent
    from fastmcp.utilities.versions import VersionSpec

__all__ = ["DeferredProvider"]


class DeferredProvider(Provider):
    """Serves the components of a FastMCP server that ``build`` returns, built on start.

    Args:
        build: Builds the server (runs in a worker thread once the lifespan starts, or on
            the first request when no lifespan runs).
        label: Names the server in errors.
    """

    def __init__(self, build: Callable[[], FastMCP[Any]], *, label: str) -> None:
        super().__init__()
        self._build = build
        self.label = label
        self._ready: asyncio.Future[Provider] | None = None
        self._building = False

    def __repr__(self) -> str:
        return f"DeferredProvider({self.label!r})"

    def _start(self) -> asyncio.Future[Provider]:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
        return self._ready

    async def _provider(self) -> Provider:
        ready = self._start()
        if not ready.done() and not self._building:
            # No lifespan is running (the server is used directly): build here.
            self._finish(ready, await asyncio.to_thread(self._built))
        try:
            return await asyncio.shield(ready)
        except Exception as exc:
            # Raised as an MCP error, so the client reads why (not "Internal server error").
            raise MCPError(
                INTERNAL_ERROR,
                f"the {self.label} tools could not be started: {type(exc).__name__}: {exc}",
            ) from exc

    def _built(self) -> Provider | BaseException:
        from fastmcp.server.providers.fastmcp_provider import FastMCPProvider

        try:
            return FastMCPProvider(self._build())
        except Exception as exc:  # raised again on every request that needs it
            return exc

    @staticmethod
    def _finish(ready: asyncio.Future[Provider], built: Provider | BaseException) -> None:
        if ready.done():
            return
        if isinstance(built, BaseException):
            ready.set_exception(built)
        else:
            ready.set_result(built)

    async def _checked(self, built: Provider) -> Provider | BaseException:
        if any(c.task_config.supports_tasks() for c in await built.get_tasks()):
            return ValidationError(
                "serves background tasks, which a deferred server cannot register",
                field=self.label,
                rule="mount servers with task tools; defer only plain tool servers",
            )
        return built

    @asynccontextmanager
    async def lifespan(self) -> AsyncGenerator[None, None]:
        """Start building; once built, hold the real server's lifespan until this one ends.

        One task builds, enters and leaves the inner lifespan, because FastMCP's lifespans
        set context variables that must be reset in the context that set them.
        """
        ready = self._start()
        self._building = True
        stop = asyncio.Event()

        async def hold() -> None:
            built = await asyncio.to_thread(self._built)
            if isinstance(built, BaseException):
                self._finish(ready, built)
                return
            try:
                async with built.lifespan():
                    self._finish(ready, await self._checked(built))
                    await stop.wait()
            except Exception as exc:
                if ready.done():
                    raise
                self._finish(ready, exc)  # the lifespan failed to start: every request says so

        task = asyncio.create_task(hold())
        try:
            yield
        finally:
            stop.set()
            await task
            self._building = False
            self._ready = None  # a later lifespan (a new session) builds afresh

    async def _list_tools(self) -> Sequence[Tool]:
        return await (await self._provider()).list_tools()

    async def _get_tool(self, name: str, version: VersionSpec | None = None) -> Tool | None:
        return await (await self._provider()).get_tool(name, version)

    async def _list_resources(self) -> Sequence[Resource]:
        return await (await self._provider()).list_resources()

    async def _get_resource(self, uri: str, version: VersionSpec | None = None) -> Resource | None:
        return await (await self._provider()).get_resource(uri, version)

    async def _list_resource_templates(self) -> Sequence[ResourceTemplate]:
        return await (await self._provider()).list_resource_templates()

    async def _get_resource_template(
        self, uri: str, version: VersionSpec | None = None
    ) -> ResourceTemplate | None:
        return await (await self._provider()).get_resource_template(uri, version)

    async def _list_prompts(self) -> Sequence[Prompt]:
        return await (await self._provider()).list_prompts()

    async def _get_prompt(self, name: str, version: VersionSpec | None = None) -> Prompt | None:
        return await (await self._provider()).get_prompt(name, version)

    async def get_tasks(self) -> Sequence[FastMCPComponent]:
        """None: the server asks at start-up, before the build; a deferred server has none.

        A built server that declares background tasks is refused when it is built (see
        :meth:`lifespan`): such a server must be mounted, not deferred.
        """
        return []
