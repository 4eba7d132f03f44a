"""Agents as MCP tools: a real MCP client against a `memfun mcp serve` subprocess.

Only the model is scripted (the OpenAI-compatible fake server of memfun_agent.testing,
configured through memfun.toml's api_base); the server, the agents, the runtime (SQLite),
the sandbox and the tool gateway are real. The write tests are attacks: a model told to
write files, through an agent served without --allow-writes or called with a token that
lacks the write scope.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.auth import BearerAuth
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli._mcp_agents import tool_names
from memfun_cli.testing import CALC, MEMFUN, cli_env, new_project

SCRIBE = """---
name: scribe
description: Writes notes into the project.
tools: Read, Write, Edit
---
You are SCRIBE-9. Write what you are asked to.
"""


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    files = {".memfun/agents/scribe.md": SCRIBE, "calc.py": CALC}
    return new_project(tmp_path, model.base, files=files, tier="sqlite")


def _env(project: Path) -> dict[str, str]:
    return cli_env(project, trusted=True)  # project agents are inactive in an untrusted folder


def _attack(project: Path) -> list[str]:
    """A model that tries every way to write: the write and edit tools, and plain open()."""
    target = str(project / "pwned-open.txt")
    code = (
        "for call in (lambda: fs_write('pwned.txt', 'owned'),\n"
        "             lambda: fs_edit('calc.py', 'a - b', 'a + b')):\n"
        "    try:\n"
        "        print('wrote', call())\n"
        "    except Exception as exc:\n"
        "        print('refused', exc)\n"
        "try:\n"
        f"    open({target!r}, 'w').write('owned')\n"
        "    print('open wrote')\n"
        "except Exception as exc:\n"
        "    print('open refused', type(exc).__name__)\n"
    )
    return [
        format_fields({"reasoning": "Write the notes.", "code": code}),
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer='notes: ' + context, summary='s')"}
        ),
    ]


def _nothing_written(project: Path) -> None:
    assert not (project / "pwned.txt").exists()
    assert not (project / "pwned-open.txt").exists()
    assert (project / "calc.py").read_text(encoding="utf-8") == CALC


class Progress:
    """The client's progress handler: what the server reported while the agent ran."""

    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))

    @property
    def messages(self) -> list[str]:
        return [message or "" for _, _, message in self.events]


def _stdio(project: Path, *args: str) -> Client[Any]:
    transport = StdioTransport(
        command=MEMFUN, args=["mcp", "serve", "--no-web", *args], env=_env(project),
        cwd=str(project),
    )  # fmt: skip
    return Client(transport, timeout=180)


async def test_agents_are_tools_that_run_with_progress_and_write_nothing_by_default(
    project: Path, model: FakeOpenAI
) -> None:
    model.replies = _attack(project)
    progress = Progress()
    async with _stdio(project) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        assert {"agents_scribe", "agents_reviewer", "agents_security-auditor"} <= set(tools)
        scribe = tools["agents_scribe"]
        assert "Writes notes into the project." in (scribe.description or "")
        assert "without --allow-writes" in (scribe.description or "")
        assert set(scribe.input_schema["properties"]) == {"task", "context"}
        assert scribe.input_schema["required"] == ["task"]
        assert scribe.annotations is not None
        assert scribe.annotations.read_only_hint is True

        result = await client.call_tool(
            "agents_scribe",
            {"task": "write the notes", "context": "ALPHA-CONTEXT"},
            progress_handler=progress,
        )
    data = result.structured_content
    assert data is not None
    assert (data["agent"], data["outcome"]) == ("scribe", "completed")
    assert data["answer"] == "notes: ALPHA-CONTEXT"  # the context reached the agent's REPL
    assert data["writes"] == "refused: the server was started without --allow-writes"
    assert data["run_id"]
    assert data["diff"] == ""
    _nothing_written(project)
    # The model's REPL output shows each write refused.
    second_prompt = json.dumps(model.requests[1]["messages"])
    assert second_prompt.count("refused") >= 3
    assert "You are SCRIBE-9" in json.dumps(model.requests[0]["messages"])
    # Progress notifications arrived while it ran: start, the step, each tool call, the end.
    assert (
        progress.messages[0]
        == "scribe: started (read-only: the server was started without --allow-writes)"
    )
    assert any("step 1 — Write the notes." in m for m in progress.messages)
    assert any(m.startswith("tool fs_write pwned.txt — failed") for m in progress.messages)
    assert progress.messages[-1] == "scribe: completed"
    values = [value for value, _, _ in progress.events]
    assert values == sorted(set(values))  # strictly increasing, as MCP requires


async def test_allow_writes_lets_the_agent_write_and_returns_the_diff(
    project: Path, model: FakeOpenAI
) -> None:
    model.replies = [
        format_fields({"reasoning": "Fix.", "code": "fs_edit('calc.py', 'a - b', 'a + b')"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='fixed', summary='sign')"}),
    ]
    async with _stdio(project, "--allow-writes") as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        annotations = tools["agents_scribe"].annotations
        assert annotations is not None
        assert annotations.destructive_hint is True
        result = await client.call_tool("agents_scribe", {"task": "fix the sign in add"})
    data = result.structured_content
    assert data is not None
    assert (data["outcome"], data["answer"], data["writes"]) == ("completed", "fixed", "allowed")
    assert data["changed_files"] == ["calc.py"]
    assert "+    return a + b" in data["diff"]
    assert (project / "calc.py").read_text(encoding="utf-8") == CALC.replace("a - b", "a + b")


async def test_without_a_model_the_call_is_one_clear_error(tmp_path: Path) -> None:
    project = new_project(tmp_path, None)
    async with _stdio(project) as client:
        result = await client.call_tool("agents_reviewer", {"task": "review"}, raise_on_error=False)
    assert result.is_error
    text = json.dumps([block.model_dump() for block in result.content])
    assert "no model is configured" in text
    assert "memfun init" in text  # the hint says what to do


def test_tool_names_follow_the_mcp_rules() -> None:
    names = tool_names(["reviewer", "a b/c", "a_b_c", "x" * 200, ""])
    assert names["reviewer"] == "reviewer"
    assert names["a b/c"] == "a_b_c"
    assert names["a_b_c"] == "a_b_c_2"  # a clash after sanitising gets a suffix
    assert len("agents_" + names["x" * 200]) == 128
    assert names[""] == "agent"


# --- over HTTP: the agents scope, and the write scope for agents that write ---------------


def _token(project: Path, tokens: Path, name: str, *scopes: str) -> str:
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    created = subprocess.run(
        [MEMFUN, "mcp", "token", "create", name, *args, "--token-file", str(tokens)],
        cwd=project, env=_env(project), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return created.stdout.strip()


@pytest.fixture
def http_server(project: Path, free_port: int) -> Iterator[tuple[str, dict[str, str]]]:
    tokens_file = project.parent / "home" / "tokens.json"
    tokens = {
        "reader": _token(project, tokens_file, "reader", "read"),
        "runner": _token(project, tokens_file, "runner", "read", "agents"),
    }
    port = free_port
    log = project.parent / "serve.log"
    command = [MEMFUN, "mcp", "serve", "--transport", "http", "--port", str(port)]
    options = ["--allow-writes", "--no-web", "--token-file", str(tokens_file)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, *options], cwd=project, env=_env(project),
            stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    try:
        for _ in range(900):  # until the port answers (a loaded machine: up to ~90 s)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not listen: {log.read_text()}")
        yield f"http://127.0.0.1:{port}/mcp", tokens
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _http(url: str, token: str) -> Client[Any]:
    return Client(StreamableHttpTransport(url, auth=BearerAuth(token)), timeout=180)


async def test_http_agent_tools_need_the_agents_scope(
    http_server: tuple[str, dict[str, str]],
) -> None:
    url, tokens = http_server
    async with _http(url, tokens["reader"]) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert "fs_read" in names
        assert not any(name.startswith("agents_") for name in names)
        refused = await client.call_tool(
            "agents_reviewer", {"task": "review"}, raise_on_error=False
        )
    assert refused.is_error


async def test_http_token_without_write_scope_cannot_write_through_an_agent(
    project: Path, model: FakeOpenAI, http_server: tuple[str, dict[str, str]]
) -> None:
    url, tokens = http_server
    model.replies = _attack(project)
    async with _http(url, tokens["runner"]) as client:
        names = {tool.name for tool in await client.list_tools()}
        assert "agents_scribe" in names
        assert "fs_write" not in names  # the token cannot write directly...
        result = await client.call_tool(
            "agents_scribe", {"task": "write the notes", "context": "x"}
        )
    data = result.structured_content
    assert data is not None
    assert data["writes"] == "refused: the caller's token lacks the 'write' scope"
    _nothing_written(project)  # ...nor through an agent of a server run with --allow-writes
