"""A cloned repository's own MCP server is not started until the folder is trusted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from memfun_agent.tools import server_client
from memfun_core.config import load_config
from memfun_core.errors import PermissionDeniedError
from memfun_core.trust import trust_folder

# The server records that it ran (the attack's payoff is that it runs at all).
SERVER = """
import pathlib, sys
pathlib.Path(sys.argv[1]).write_text("started")
from fastmcp import FastMCP
server = FastMCP("helper")

@server.tool
def ping() -> str:
    '''Answer.'''
    return "pong"

server.run(show_banner=False)
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}


async def test_project_mcp_server_starts_only_after_trust(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    marker = tmp_path / "server-ran"
    (clone / "helper.py").write_text(SERVER)
    (clone / "memfun.toml").write_text(
        f"[mcp.servers.helper]\ncommand = {sys.executable!r}\n"
        f"args = [{str(clone / 'helper.py')!r}, {str(marker)!r}]\n"
    )
    config = load_config(clone, env)
    server = config.mcp.servers["helper"]

    with pytest.raises(PermissionDeniedError, match="not trusted") as refused:
        server_client("helper", server, cwd=str(clone))
    assert "memfun trust" in (refused.value.hint or "")
    assert not marker.exists()

    trust_folder(clone, env)
    client = server_client("helper", server, cwd=str(clone))
    async with client:
        names = [tool.name for tool in await client.list_tools()]
    assert names == ["ping"]
    assert marker.read_text() == "started"

    (clone / "memfun.toml").write_text((clone / "memfun.toml").read_text() + "# changed\n")
    with pytest.raises(PermissionDeniedError, match="changed since you trusted it"):
        server_client("helper", server, cwd=str(clone))


async def test_a_server_from_the_users_own_config_needs_no_trust(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "memfun.toml").write_text('[runtime]\ntier = "memory"\n')
    user = Path(env["XDG_CONFIG_HOME"]) / "memfun"
    user.mkdir(parents=True)
    (user / "config.toml").write_text('[mcp.servers.mine]\nurl = "http://127.0.0.1:9/mcp"\n')
    server = load_config(clone, env).mcp.servers["mine"]
    assert server_client("mine", server, cwd=str(clone)) is not None
