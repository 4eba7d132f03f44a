from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from memfun_cli.testing import MEMFUN, cli_env, memfun, new_project

TINY_SERVER = """
from fastmcp import FastMCP

server = FastMCP("tiny")


@server.tool
def shout(text: str) -> str:
    '''Upper-case the text.'''
    return text.upper()


if __name__ == "__main__":
    server.run(show_banner=False)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path, None, files={"hello.txt": "hello from the workspace\n"})


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return memfun(project, "mcp", *args, timeout=90)


async def test_serve_over_stdio_with_the_official_client(project: Path) -> None:
    params = StdioServerParameters(
        command=MEMFUN, args=["mcp", "serve"], cwd=str(project), env=cli_env(project)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {
            "fs_read",
            "search_text",
            "git_status",
            "repomap_map",
            "web_fetch",
            "web_search",
        } <= names
        assert "skills_review-code" in names
        assert "fs_write" not in names  # writes need --allow-writes

        read_result = await session.call_tool("fs_read", {"path": "hello.txt"})
        assert not read_result.is_error
        assert "hello from the workspace" in json.dumps(read_result.structured_content)

        escape = await session.call_tool("fs_read", {"path": "../home/x"})
        assert escape.is_error

        skill = await session.call_tool("skills_review-code", {})
        assert not skill.is_error
        assert "review" in json.dumps(skill.model_dump(mode="json")).lower()


async def test_allow_writes_serves_write_tools(project: Path) -> None:
    params = StdioServerParameters(
        command=MEMFUN,
        args=["mcp", "serve", "--allow-writes", "--no-web"],
        cwd=str(project),
        env=cli_env(project),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert "fs_write" in names
        assert "web_fetch" not in names


def test_add_list_and_test_an_external_server(project: Path) -> None:
    script = project / "tiny_server.py"
    script.write_text(TINY_SERVER, encoding="utf-8")
    added = run(project, "add", "tiny", "--", sys.executable, str(script))
    assert added.returncode == 0, added.stderr
    listed = json.loads(run(project, "list", "--json").stdout)
    assert listed["tiny"]["command"] == sys.executable
    assert listed["tiny"]["args"] == [str(script)]
    tested = run(project, "test", "tiny")
    assert tested.returncode == 0, tested.stderr
    assert "tiny: 1 tools" in tested.stdout
    assert "shout: Upper-case the text." in tested.stdout
    duplicate = run(project, "add", "tiny", "--url", "http://127.0.0.1:1/mcp")
    assert duplicate.returncode == 2


def test_a_broken_server_is_one_clear_error(project: Path) -> None:
    assert (
        run(project, "add", "broken", "--", sys.executable, "-c", "raise SystemExit(3)").returncode
        == 0
    )
    result = run(project, "test", "broken")
    assert result.returncode == 1
    assert "did not answer" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run(project, "test", "nope")
    assert missing.returncode == 2
    assert "no MCP server named 'nope'" in missing.stderr


def test_add_refuses_a_raw_key_and_leaves_the_file_alone(project: Path) -> None:
    before = (project / "memfun.toml").read_text(encoding="utf-8")
    result = run(
        project,
        "add",
        "leaky",
        "--env",
        "TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "--",
        "server",
    )
    assert result.returncode == 2
    assert "raw API key" in result.stderr
    assert (project / "memfun.toml").read_text(encoding="utf-8") == before
