"""The tool registry: each tool declared once, called directly or served over MCP.

The agent calls the registry directly; ``memfun mcp serve`` serves FastMCP servers built from
it. Both must agree: the same tools, schemas, argument checks, results and error texts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from memfun_core.errors import PermissionDeniedError, ValidationError
from memfun_tools.gateway import build_gateway
from memfun_tools.registry import ToolRegistry, validate_arguments, workspace_tools


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


READ_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("fs_read", {"path": "hello.py"}),
    ("fs_read", {"path": "hello.py", "start_line": "2", "end_line": 2.0}),
    ("fs_list", {}),
    ("fs_glob", {"pattern": "**/*.py"}),
    ("fs_tree", {"max_depth": 2}),
    ("search_text", {"pattern": "hello", "globs": ("*.py",)}),
    ("git_status", {}),
    ("git_log", {"max_count": 5}),
    ("git_show", {"path": "hello.py"}),
    ("repomap_map", {"token_budget": 256}),
]
BAD_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("fs_read", {"paht": "hello.py"}),
    ("fs_read", {"path": "hello.py", "start_line": 0}),
    ("fs_read", {"path": 5}),
    ("fs_read", {"path": "../outside/secret.txt"}),
    ("fs_multi_edit", {"path": "hello.py", "edits": []}),
    ("fs_multi_edit", {"path": "hello.py", "edits": [{"old": 1}]}),
    ("search_text", {"pattern": "x", "case": "bad"}),
    ("git_log", {"max_count": 1000}),
    ("fs_edit", {"path": "hello.py", "old_text": "x", "new_text": "y", "replace_all": "maybe"}),
]


async def test_the_served_gateway_lists_exactly_the_registry(repo: Path) -> None:
    registry = workspace_tools(repo, allow_writes=True)
    async with Client(build_gateway(repo, allow_writes=True)) as client:
        served = {tool.name: tool for tool in await client.list_tools()}
    assert list(served) == registry.names
    for tool in registry:
        mcp = served[tool.full_name]
        assert mcp.description == tool.description
        assert mcp.input_schema == dict(tool.input_schema)
        assert mcp.annotations is not None
        assert mcp.annotations.read_only_hint is tool.hints.read_only
        assert mcp.annotations.destructive_hint is tool.hints.destructive
        assert mcp.annotations.idempotent_hint is tool.hints.idempotent
        assert mcp.output_schema is not None
        assert mcp.output_schema["type"] == "object"


async def test_direct_calls_return_what_an_mcp_client_receives(repo: Path) -> None:
    registry = workspace_tools(repo, allow_writes=True, cache_dir=repo.parent / "cache-a")
    gateway = build_gateway(repo, allow_writes=True, cache_dir=repo.parent / "cache-b")
    async with Client(gateway) as client:
        for name, arguments in READ_CALLS:
            served = await client.call_tool(name, arguments)
            direct = await registry.call(name, arguments)
            assert direct == served.structured_content, name
            assert json.loads(served.content[0].text) == direct, name  # type: ignore[union-attr]
    await registry.aclose()


async def test_bad_calls_fail_with_the_same_text_both_ways(repo: Path) -> None:
    registry = workspace_tools(repo, allow_writes=True)
    async with Client(build_gateway(repo, allow_writes=True)) as client:
        for name, arguments in BAD_CALLS:
            served = await client.call_tool(name, arguments, raise_on_error=False)
            with pytest.raises((ValidationError, PermissionDeniedError)) as caught:
                await registry.call(name, arguments)
            assert served.is_error, name
            text = served.content[0].text  # type: ignore[union-attr]
            assert text == f"{type(caught.value).__name__}: {caught.value}", name
    assert "hello" in (repo / "hello.py").read_text()  # nothing was edited


def test_arguments_are_checked_coerced_and_defaulted() -> None:
    tools = workspace_tools(Path.cwd())
    read = tools.get("fs_read")
    assert read.check({"path": "a"}) == {"path": "a", "start_line": 1, "end_line": None}
    # Coerced as pydantic's lax mode did when the servers were built from annotations.
    assert read.check({"path": b"a", "start_line": "3", "end_line": 4.0}) == {
        "path": "a",
        "start_line": 3,
        "end_line": 4,
    }
    text = tools.get("search_text")
    checked = text.check({"pattern": "x", "globs": ("*.py",), "fixed_strings": "yes"})
    assert checked["globs"] == ["*.py"]
    assert checked["fixed_strings"] is True
    with pytest.raises(ValidationError) as caught:
        read.check({"path": "a", "start_line": 2.5, "extra": 1})
    message = str(caught.value)
    assert "fs_read.start_line" in message
    assert "extra: Unexpected keyword argument" in message
    assert "hint: fs_read takes path: string" in message


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        ({"type": "integer", "minimum": 1}, 0, "greater than or equal to 1"),
        ({"type": "integer", "maximum": 5}, "9", "less than or equal to 5"),
        ({"type": "integer"}, "ten", "a valid integer"),
        ({"type": "boolean"}, 2, "a valid boolean"),
        ({"type": "string"}, None, "a valid string"),
        ({"type": "array", "items": {"type": "string"}}, "a", "a valid list"),
        ({"type": "array", "items": {"type": "string"}}, ["a", 1], "x.1"),
        ({"type": "array", "minItems": 1}, [], "at least 1 item"),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "x", "or null"),
        ({"type": "string", "enum": ["a", "b"]}, "c", "'a' or 'b'"),
    ],
)
def test_each_rule_names_its_problem(schema: dict[str, Any], value: Any, problem: str) -> None:
    params = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(")):
        validate_arguments("tool", params, {"x": value})


async def test_closing_releases_the_repo_map_cache_which_reopens(repo: Path) -> None:
    registry = workspace_tools(repo, cache_dir=repo.parent / "cache")
    first = await registry.call("repomap_map", {"token_budget": 256})
    await registry.aclose()
    again = await registry.call("repomap_map", {"token_budget": 256})
    await registry.aclose()
    assert first["text"] == again["text"]
    assert "hello.py" in again["text"]


def test_unknown_tools_and_duplicate_names_are_errors(repo: Path) -> None:
    registry = workspace_tools(repo)
    assert "fs_write" not in registry  # writes only when asked
    with pytest.raises(Exception, match="no tool named 'fs_write'"):
        registry.get("fs_write")
    with pytest.raises(ValidationError, match="'fs_read' twice"):
        ToolRegistry([*registry, registry.get("fs_read")])


def test_the_registry_imports_no_mcp_stack_pydantic_or_web(repo: Path) -> None:
    code = (
        "import asyncio, sys\n"
        "from memfun_tools.registry import workspace_tools\n"
        f"tools = workspace_tools({str(repo)!r}, allow_writes=True)\n"
        "print(asyncio.run(tools.call('fs_read', {'path': 'hello.py'}))['total_lines'])\n"
        "heavy = ('fastmcp', 'mcp', 'mcp_types', 'pydantic', 'httpx')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["2", "[]"]
