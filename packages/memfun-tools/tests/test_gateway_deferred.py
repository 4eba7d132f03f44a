"""A deferred gateway: `initialize` is answered while the tool servers are still being built."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from mcp.shared.exceptions import MCPError

from memfun_tools.gateway import DeferredProvider, build_gateway


def _tool_names(tools: list[Any]) -> set[str]:
    return {t.name for t in tools}


async def test_deferred_gateway_serves_the_same_tools_and_results(root: Path) -> None:
    (root / "notes.txt").write_text("deferred\n", encoding="utf-8")
    async with Client(build_gateway(root, allow_writes=True)) as client:
        eager = {t.name: t for t in await client.list_tools()}
        eager_read = await client.call_tool("fs_read", {"path": "notes.txt"})
    async with Client(build_gateway(root, allow_writes=True, defer=True)) as client:
        deferred = {t.name: t for t in await client.list_tools()}
        deferred_read = await client.call_tool("fs_read", {"path": "notes.txt"})
        refused = await client.call_tool("fs_read", {"path": "../x"}, raise_on_error=False)
    assert set(deferred) == set(eager)
    for name, tool in eager.items():
        assert deferred[name].input_schema == tool.input_schema, name
        assert deferred[name].annotations == tool.annotations, name
    assert deferred_read.structured_content == eager_read.structured_content
    assert refused.is_error
    assert "PermissionDeniedError" in str(refused.content[0])


async def test_initialize_is_answered_while_the_build_is_blocked(root: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow_build() -> FastMCP[Any]:
        started.set()
        if not release.wait(60):
            raise RuntimeError("the test never released the build")
        server: FastMCP[Any] = FastMCP("slow")

        @server.tool
        def ping() -> str:
            return "pong"

        return server

    gateway = build_gateway(
        root, extra_providers={"slow": DeferredProvider(slow_build, label="slow")}
    )
    try:
        async with Client(gateway, mode="legacy") as client:
            # The handshake is done although the build cannot have finished.
            assert client.initialize_result is not None
            assert client.initialize_result.server_info.name == "memfun"
            assert not release.is_set()
            await asyncio.to_thread(started.wait, 60)
            listing = asyncio.ensure_future(client.list_tools())
            await asyncio.sleep(0)
            assert not listing.done()
            release.set()
            names = _tool_names(await listing)
            result = await client.call_tool("slow_ping", {})
    finally:
        release.set()
    assert "slow_ping" in names
    assert result.structured_content == {"result": "pong"}


async def test_a_failed_build_is_an_error_on_every_request_not_an_empty_list(root: Path) -> None:
    def broken() -> FastMCP[Any]:
        raise RuntimeError("the web stack is not installed")

    gateway = build_gateway(root, extra_providers={"web": DeferredProvider(broken, label="web")})
    async with Client(gateway) as client:
        for _ in range(2):
            with pytest.raises(MCPError, match="web stack is not installed"):
                await client.list_tools()


async def test_a_server_with_background_tasks_is_refused(root: Path) -> None:
    def with_task() -> FastMCP[Any]:
        server: FastMCP[Any] = FastMCP("tasks")

        @server.tool(task=True)
        async def slow() -> str:
            return "done"

        return server

    gateway = build_gateway(root, extra_providers={"t": DeferredProvider(with_task, label="t")})
    async with Client(gateway) as client:
        with pytest.raises(MCPError, match="background tasks"):
            await client.list_tools()
