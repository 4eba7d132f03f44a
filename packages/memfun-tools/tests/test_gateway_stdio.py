"""The gateway as a subprocess: the official ``mcp`` SDK client over stdio, and HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastmcp import Client
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from memfun_tools.gateway import TokenStore


async def test_mcp_sdk_client_over_stdio(root: Path, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memfun_tools.gateway", "--root", str(root)]
    )
    with (tmp_path / "server.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            listed = await session.list_tools()
            names = {t.name for t in listed.tools}
            assert {"fs_read", "search_text", "git_status"} <= names
            assert "fs_write" not in names
            read_tool = next(t for t in listed.tools if t.name == "fs_read")
            assert read_tool.annotations is not None
            assert read_tool.annotations.read_only_hint is True
            ok = await session.call_tool("fs_read", {"path": "hello.py"})
            assert not ok.is_error
            assert ok.structured_content is not None
            assert ok.structured_content["total_lines"] == 2
            refused = await session.call_tool("fs_read", {"path": "../outside/secret.txt"})
            assert refused.is_error
            text = refused.content[0].text  # type: ignore[union-attr]
            assert "PermissionDeniedError" in text
            assert "secret" not in text.split("refused")[-1]
            not_repo = await session.call_tool("git_status", {})
            assert not_repo.is_error
            assert "git repository" in not_repo.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def committed(root: Path) -> Path:
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@e.x", "commit", "-qm", "initial"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root


async def test_every_tool_over_stdio_with_writes_allowed(committed: Path, tmp_path: Path) -> None:
    root = committed
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memfun_tools.gateway", "--root", str(root), "--allow-writes"],
        env={"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e.x",
             "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@e.x"},
    )  # fmt: skip
    calls: list[tuple[str, dict[str, object]]] = [
        ("fs_read", {"path": "hello.py"}),
        ("fs_list", {}),
        ("fs_glob", {"pattern": "**/*.py"}),
        ("fs_tree", {}),
        ("fs_write", {"path": "new.py", "content": "def new():\n    return 1\n"}),
        ("fs_edit", {"path": "new.py", "old_text": "return 1", "new_text": "return 2"}),
        ("fs_multi_edit", {"path": "new.py", "edits": [{"old_text": "2", "new_text": "3"}]}),
        ("search_text", {"pattern": "def"}),
        ("search_structural", {"pattern": "def $F(): $$$B", "language": "python"}),
        ("git_status", {}),
        ("git_diff", {}),
        ("git_log", {}),
        ("git_show", {}),
        ("git_blame", {"path": "hello.py"}),
        ("git_branches", {}),
        ("git_commit", {"message": "add new", "paths": ["new.py"]}),
        ("git_checkout", {"ref": "topic", "create": True}),
        ("repomap_map", {"mentioned_idents": ["new"]}),
    ]
    with (tmp_path / "server.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert names == {name for name, _ in calls}
            for name, arguments in calls:
                result = await session.call_tool(name, arguments)
                assert not result.is_error, (name, result.content)
                assert result.structured_content is not None, name
    assert (root / "new.py").read_text() == "def new():\n    return 3\n"


def test_bad_root_exits_with_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memfun_tools.gateway", "--root", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no workspace folder named" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_streamable_http_transport(root: Path, tmp_path: Path) -> None:
    port = _free_port()
    token, _ = TokenStore(tmp_path / "tokens.json").create("test", ["read"])
    with (tmp_path / "http.log").open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "memfun_tools.gateway",
            "--root",
            str(root),
            "--http",
            str(port),
            "--token-file",
            str(tmp_path / "tokens.json"),
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.returncode is not None:
                        pytest.fail(
                            "the HTTP gateway did not start: " + (tmp_path / "http.log").read_text()
                        )
                    await asyncio.sleep(0.1)
            async with Client(f"http://127.0.0.1:{port}/mcp", auth=token) as client:
                result = await client.call_tool("fs_glob", {"pattern": "**/*.md"})
                assert result.structured_content == {
                    "pattern": "**/*.md",
                    "paths": ["sub/notes.md"],
                    "truncated": False,
                }
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
