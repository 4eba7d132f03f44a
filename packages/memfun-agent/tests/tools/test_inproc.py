"""Memfun's gateway called in process: what an MCP client would see, without fastmcp.Client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastmcp import Client

from memfun_agent.tools import gateway_client
from memfun_agent.tools._inproc import InProcessClient
from memfun_tools.gateway import build_gateway


async def test_the_tools_and_results_are_those_an_mcp_client_sees(repo: Path) -> None:
    async with Client(build_gateway(repo, allow_writes=True)) as client:
        remote = {t.name: t for t in await client.list_tools()}
        read = await client.call_tool("fs_read", {"path": "calc.py"})
        escape = await client.call_tool("fs_read", {"path": "../x"}, raise_on_error=False)
        bad = await client.call_tool("fs_read", {"paht": "calc.py"}, raise_on_error=False)
    async with gateway_client(repo) as local:
        here = {t.name: t for t in await local.list_tools()}
        read_here = await local.call_tool("fs_read", {"path": "calc.py"})
        escape_here = await local.call_tool("fs_read", {"path": "../x"})
        bad_here = await local.call_tool("fs_read", {"paht": "calc.py"})
        unknown = await local.call_tool("no_such_tool", {})
    assert set(here) == set(remote)
    for name, tool in remote.items():
        assert here[name].input_schema == tool.input_schema, name
        assert here[name].output_schema == tool.output_schema, name
        assert here[name].annotations == tool.annotations, name
        assert here[name].description == tool.description, name
    assert read_here.structured_content == read.structured_content
    assert not read_here.is_error
    for ours, theirs in ((escape_here, escape), (bad_here, bad)):
        assert ours.is_error
        assert theirs.is_error
        assert [c.text for c in ours.content] == [c.text for c in theirs.content]  # type: ignore[union-attr]
    assert unknown.is_error
    assert "Unknown tool: 'no_such_tool'" in unknown.content[0].text  # type: ignore[union-attr]


async def test_the_lifespan_is_entered_and_left(repo: Path) -> None:
    client = InProcessClient(build_gateway(repo, cache_dir=repo / ".cache"))
    async with client:
        await client.call_tool("repomap_map", {"token_budget": 256})
    # A second session works again (the repo map's cache was closed and reopens).
    async with client:
        again = await client.call_tool("repomap_map", {"token_budget": 256})
    assert not again.is_error
    assert "calc.py" in json.dumps(again.structured_content)


def test_an_agent_gateway_does_not_import_the_mcp_client(repo: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client\n"
        "bridge = ToolBridge(policy=PermissionPolicy(destructive_default='deny'))\n"
        f"bridge.add_mcp(gateway_client(Path({str(repo)!r})), prefix='', source='memfun')\n"
        "print(bridge.call('fs_read', path='calc.py')['content'][:10])\n"
        "bridge.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('fastmcp.client')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
