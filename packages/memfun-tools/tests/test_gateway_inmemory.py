"""Every tool driven through FastMCP's in-memory Client over the gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.providers import FastMCPProvider

from memfun_core.errors import ValidationError
from memfun_tools.gateway import build_gateway

READ_TOOLS = {
    "fs_read", "fs_list", "fs_glob", "fs_tree",
    "search_text", "search_structural",
    "git_status", "git_diff", "git_log", "git_show", "git_blame", "git_branches",
    "repomap_map",
}  # fmt: skip
WRITE_TOOLS = {"fs_write", "fs_edit", "fs_multi_edit", "git_commit", "git_checkout"}


@pytest.fixture
def repo(root: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "--quiet", "--initial-branch=main")
    git("config", "user.name", "T")
    git("config", "user.email", "t@example.com")
    git("add", "-A")
    git("commit", "--quiet", "-m", "initial")
    return root


async def _call(client: Client, name: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def test_read_only_gateway_lists_tools_with_annotations(repo: Path) -> None:
    async with Client(build_gateway(repo)) as client:
        tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) >= READ_TOOLS
    assert not WRITE_TOOLS & set(tools)
    for name in READ_TOOLS:
        hints = tools[name].annotations
        assert hints is not None
        assert hints.read_only_hint is True
        assert hints.destructive_hint is False
        assert tools[name].output_schema is not None


async def test_write_tools_only_with_writes_allowed(repo: Path) -> None:
    async with Client(build_gateway(repo, allow_writes=True)) as client:
        tools = {t.name: t for t in await client.list_tools()}
        for name in WRITE_TOOLS:
            hints = tools[name].annotations
            assert hints is not None
            assert hints.destructive_hint is True
            assert hints.read_only_hint is False
        assert tools["fs_write"].annotations.idempotent_hint is True  # type: ignore[union-attr]
        written = await _call(client, "fs_write", path="new.py", content="def g():\n    pass\n")
        assert written["created"] is True
        edited = await _call(client, "fs_edit", path="new.py", old_text="pass", new_text="return 1")
        assert "+    return 1" in edited["diff"]
        multi = await _call(
            client,
            "fs_multi_edit",
            path="new.py",
            edits=[{"old_text": "g()", "new_text": "h()"}, {"old_text": "1", "new_text": "2"}],
        )
        assert multi["replacements"] == 2
        assert (repo / "new.py").read_text() == "def h():\n    return 2\n"
        commit = await _call(client, "git_commit", message="add new", paths=["new.py"])
        assert len(commit["sha"]) == 40
        checkout = await _call(client, "git_checkout", ref="topic", create=True)
        assert checkout["branch"] == "topic"


async def test_every_read_tool_answers(repo: Path) -> None:
    (repo / "hello.py").write_text("def hello():\n    return 'hello'\n")
    async with Client(build_gateway(repo)) as client:
        read = await _call(client, "fs_read", path="hello.py", start_line=2)
        assert read["content"] == "    return 'hello'\n"
        listing = await _call(client, "fs_list")
        assert "hello.py" in {e["path"] for e in listing["entries"]}
        assert (await _call(client, "fs_glob", pattern="**/*.md"))["paths"] == ["sub/notes.md"]
        assert "notes.md" in (await _call(client, "fs_tree"))["text"]
        text = await _call(client, "search_text", pattern="hello", context=0)
        assert [(m["path"], m["line"]) for m in text["matches"]] == [
            ("hello.py", 1),
            ("hello.py", 2),
        ]
        structural = await _call(
            client, "search_structural", pattern="def $F(): $$$B", language="python"
        )
        assert structural["matches"][0]["path"] == "hello.py"
        status = await _call(client, "git_status")
        assert status["branch"] == "main"
        assert [e["path"] for e in status["entries"]] == ["hello.py"]
        assert "-    return 'hi'" in (await _call(client, "git_diff"))["text"]
        log = await _call(client, "git_log")
        assert [c["subject"] for c in log["commits"]] == ["initial"]
        assert "initial" in (await _call(client, "git_show"))["text"]
        blame = await _call(client, "git_blame", path="sub/notes.md")
        assert blame["lines"][0]["text"] == "# Notes"
        assert (await _call(client, "git_branches"))["current"] == "main"
        mapped = await _call(client, "repomap_map", mentioned_idents=["hello"], token_budget=256)
        assert mapped["files"][0]["path"] == "hello.py"
        assert mapped["text"].startswith("hello.py:")
        assert mapped["stats"]["tokens"] <= 256


async def test_errors_come_back_as_tool_errors(repo: Path) -> None:
    async with Client(build_gateway(repo)) as client:
        escaped = await client.call_tool("fs_read", {"path": "../x"}, raise_on_error=False)
        assert escaped.is_error
        message = escaped.content[0].text  # type: ignore[union-attr]
        assert message.startswith("PermissionDeniedError:")
        assert "leaves the workspace root" in message
        missing = await client.call_tool("fs_read", {"path": "nope.py"}, raise_on_error=False)
        assert missing.is_error
        assert "NotFoundError" in missing.content[0].text  # type: ignore[union-attr]
        bad_regex = await client.call_tool("search_text", {"pattern": "a("}, raise_on_error=False)
        assert bad_regex.is_error
        assert "valid regex" in bad_regex.content[0].text  # type: ignore[union-attr]
        no_write = await client.call_tool(
            "fs_write", {"path": "x", "content": "y"}, raise_on_error=False
        )
        assert no_write.is_error
    assert not (repo / "x").exists()


async def test_extra_servers_and_providers_are_mounted(repo: Path) -> None:
    skills = FastMCP("skills")

    @skills.tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    agents = FastMCP("agents")

    @agents.tool
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    gateway = build_gateway(
        repo, extra_providers={"skills": skills, "agents": FastMCPProvider(agents)}
    )
    async with Client(gateway) as client:
        names = {t.name for t in await client.list_tools()}
        assert {"skills_ping", "agents_echo"} <= names
        assert (await client.call_tool("skills_ping", {})).data == "pong"
        assert (await client.call_tool("agents_echo", {"text": "hi"})).data == "hi"


def _open_files() -> set[str]:
    found: set[str] = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(str(fd.readlink()))
        except OSError:
            continue
    return found


async def test_repomap_cache_dir_is_configurable_and_closed(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "data" / "repomap.sqlite3"
    async with Client(build_gateway(repo, cache_dir=tmp_path / "data")) as client:
        await _call(client, "repomap_map")
        assert str(cache) in _open_files()
    assert str(cache) not in _open_files()  # the server's lifespan closed the cache
    assert cache.is_file()
    assert not (repo / ".memfun").exists()


def test_importing_the_tools_does_not_import_fastmcp() -> None:
    code = (
        "import sys, memfun_tools, memfun_tools.fs, memfun_tools.search, memfun_tools.git, "
        "memfun_tools.repomap, memfun_tools.gateway; "
        "assert 'fastmcp' not in sys.modules and 'mcp' not in sys.modules, 'eager import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_bad_extra_providers_are_refused(repo: Path) -> None:
    with pytest.raises(ValidationError, match="namespace"):
        build_gateway(repo, extra_providers=[("fs", FastMCP("dup"))])
    with pytest.raises(ValidationError, match="namespace"):
        build_gateway(repo, extra_providers=[("Bad Name", FastMCP("x"))])
    with pytest.raises(ValidationError, match="FastMCP server or a fastmcp Provider"):
        build_gateway(repo, extra_providers={"thing": object()})  # type: ignore[dict-item]
