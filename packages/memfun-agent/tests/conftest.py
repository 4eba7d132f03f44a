"""memfun-agent tests: no test reaches a real model or the internet unless it is marked.

Shared fixtures: a fixture repository with a bug and its tests, a local sandbox (skipped
with a reason where bubblewrap and Landlock are both unavailable, failing instead under
``MEMFUN_REQUIRE_SERVICES=1``), and a tool bridge over the repository.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_agent.testing.pytest_plugin import (
    memfun_network_guard,
    pytest_configure,
    sandbox_ok,
)
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client

__all__ = [
    "bridge",
    "isolated_user_config",
    "mcp_server_script",
    "memfun_network_guard",
    "pytest_configure",
    "repo",
    "sandbox_ok",
]


@pytest.fixture(scope="session", autouse=True)
def isolated_user_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's config folder (trust store, audit witnesses) is a scratch folder, not ~/.config."""
    folder = tmp_path_factory.mktemp("xdg-config")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(folder))
        yield folder


CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
TESTS = (
    "from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert mul(2, 3) == 6\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose ``add`` subtracts; its tests say so."""
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(argv, cwd=root, check=True, env=env)
    return root


@pytest.fixture
def bridge(repo: Path) -> Iterator[ToolBridge]:
    """Memfun's tools over ``repo``; file edits allowed without asking."""
    tools = ToolBridge(policy=PermissionPolicy(rules={"fs_*": "allow"}))
    tools.add_mcp(gateway_client(repo), prefix="", source="memfun")
    yield tools
    tools.close()


# A tiny external MCP server (FastMCP over stdio), written for these tests.
SERVER = '''
import asyncio
import os

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

server = FastMCP("calc-server")


@server.tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool
def greet(name: str) -> dict:
    """Greet someone, with the server's configured greeting."""
    return {"text": os.environ.get("GREETING", "hello") + ", " + name, "pid": os.getpid()}


@server.tool
def explode(reason: str) -> str:
    """Always fails."""
    raise ToolError("exploded: " + reason)


@server.tool
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "woke up"


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run(transport="http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        server.run(show_banner=False)
'''


@pytest.fixture
def mcp_server_script(tmp_path: Path) -> Path:
    """Path of the server script."""
    path = tmp_path / "calc_server.py"
    path.write_text(SERVER)
    return path
