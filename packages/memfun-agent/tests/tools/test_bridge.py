"""The tool bridge: Memfun tools and external MCP servers, errors, timeouts, permissions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import (
    PermissionPolicy,
    PermissionRequest,
    ToolBridge,
    ToolFailed,
    ToolSpec,
    gateway_client,
    server_client,
)
from memfun_core.config import MCPServerConfig
from memfun_core.errors import ConfigError, PermissionDeniedError


def test_memfun_tools_are_bridged_with_schemas_and_diffs(repo: Path, bridge: ToolBridge) -> None:
    names = set(bridge.names)
    assert {"fs_read", "fs_edit", "fs_write", "search_text", "git_diff", "repomap_map"} <= names
    assert bridge.spec("fs_edit").destructive
    assert not bridge.spec("fs_read").destructive
    assert bridge.spec("fs_read").parameters[:1] == ["path"]
    read = bridge.call("fs_read", "calc.py")
    assert isinstance(read, dict)
    assert "return a - b" in str(read["content"])
    edited = bridge.call("fs_edit", "calc.py", "return a - b", new_text="return a + b")
    assert isinstance(edited, dict)
    assert "+    return a + b" in str(edited["diff"])
    assert "return a + b" in (repo / "calc.py").read_text()
    diff = bridge.call("git_diff")
    assert "return a + b" in str(diff)


def test_errors_become_tool_failed_with_the_hint(bridge: ToolBridge) -> None:
    with pytest.raises(ToolFailed, match=r"PermissionDeniedError.*leaves the workspace"):
        bridge.call("fs_read", "../../etc/passwd")
    with pytest.raises(ToolFailed, match="no tool named 'nope'"):
        bridge.call("nope")
    with pytest.raises(ToolFailed, match="at most"):
        bridge.call("git_status", "extra")


def test_permission_policy_denies_and_asks() -> None:
    policy = PermissionPolicy.from_flags(allow=["fs_*"], deny=["git_commit"], ask=["fs_write"])
    assert policy.decide_call("fs_edit", {"path": "calc.py"}, destructive=True) == "allow"
    assert policy.decide("fs_edit", destructive=True) == "ask"  # depends on the path
    assert policy.decide("fs_write", destructive=True) == "ask"
    assert policy.decide("git_commit", destructive=True) == "deny"
    assert policy.decide("github_create_issue", destructive=True) == "ask"
    assert policy.decide("github_list_issues", destructive=False) == "allow"


def test_denied_and_unanswerable_calls_are_refused(repo: Path) -> None:
    with ToolBridge(policy=PermissionPolicy(rules={"fs_write": "deny"})) as tools:
        tools.add_mcp(gateway_client(repo), prefix="", source="memfun")
        with pytest.raises(ToolFailed, match="denies this tool"):
            tools.call("fs_write", "new.txt", "x")
        with pytest.raises(ToolFailed, match="nobody can be asked"):
            tools.call("fs_edit", "calc.py", "a - b", "a + b")  # destructive: ask by default
        assert not (repo / "new.txt").exists()
        assert "a - b" in (repo / "calc.py").read_text()


async def test_ask_callback_decides_on_the_callers_loop(repo: Path) -> None:
    asked: list[PermissionRequest] = []

    async def ask(request: PermissionRequest) -> bool:
        asked.append(request)
        return request.arguments.get("path") == "ok.txt"

    bridge = ToolBridge(policy=PermissionPolicy(ask=ask))
    bridge.add_mcp(gateway_client(repo), prefix="", source="memfun")
    lm = ScriptedLM(
        [
            {
                "reasoning": "Write two files.",
                "code": "print(fs_write('ok.txt', 'yes')['path'])\n"
                "try:\n    fs_write('no.txt', 'no')\nexcept Exception as e:\n    print('refused:', e)",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='wrote ok.txt')"},
        ]
    )
    try:
        result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("write")
    finally:
        bridge.close()
    assert result.outcome == "completed"
    assert [(r.tool, r.arguments["path"], r.destructive) for r in asked] == [
        ("fs_write", "ok.txt", True),
        ("fs_write", "no.txt", True),
    ]
    assert (repo / "ok.txt").read_text() == "yes"
    assert not (repo / "no.txt").exists()
    assert "refused: ToolFailed: PermissionDeniedError" in result.steps[0].output
    assert "the user declined" in result.steps[0].output
    assert result.changed_files == ("ok.txt",)
    calls = result.trace.of_kind("tool_call")
    assert [c["ok"] for c in calls if c["tool"] == "fs_write"] == [True, False]


def test_external_stdio_mcp_server_is_bridged(
    mcp_server_script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_TEST_GREETING", "ahoy")
    config = MCPServerConfig(
        command=sys.executable,
        args=(str(mcp_server_script),),
        env={"GREETING": "${MEMFUN_TEST_GREETING}"},
        timeout_seconds=20.0,
    )
    with ToolBridge() as tools:
        added = tools.add_mcp(
            server_client("calc-server", config), prefix="calc-server", source="mcp:calc-server"
        )
        assert sorted(added) == [
            "calc_server_add",
            "calc_server_explode",
            "calc_server_greet",
            "calc_server_slow",
        ]
        spec = tools.spec("calc_server_add")
        assert spec.source == "mcp:calc-server"
        assert spec.parameters == ["a", "b"]
        assert spec.destructive  # no read-only hint: treated as destructive
        tools.policy = PermissionPolicy(rules={"calc_server_*": "allow"})
        assert tools.call("calc_server_add", 2, b=40) == 42
        greeting = tools.call("calc_server_greet", name="memfun")
        assert isinstance(greeting, dict)
        assert greeting["text"] == "ahoy, memfun"
        assert greeting["pid"] != os.getpid()  # a real subprocess
        with pytest.raises(ToolFailed, match="exploded: on purpose"):
            tools.call("calc_server_explode", "on purpose")
        with pytest.raises(ToolFailed, match=r"validation|Input|invalid"):
            tools.call("calc_server_add", "x", "y")


def test_external_tool_timeout(mcp_server_script: Path) -> None:
    config = MCPServerConfig(command=sys.executable, args=(str(mcp_server_script),))
    with ToolBridge(policy=PermissionPolicy(default="allow", destructive_default="allow")) as tools:
        tools.add_mcp(server_client("calc", config), prefix="calc", source="mcp:calc", timeout=1.0)
        with pytest.raises(ToolFailed, match=r"timed out|Timeout|timeout"):
            tools.call("calc_slow", 10)
        assert tools.call("calc_add", 1, 1) == 2  # the session survives


def test_bad_server_config_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="exactly one of command"):
        server_client("x", MCPServerConfig())
    monkeypatch.delenv("MEMFUN_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError, match="MEMFUN_UNSET_VAR"):
        server_client("x", MCPServerConfig(command="x", env={"K": "${MEMFUN_UNSET_VAR}"}))


def test_restricted_view_and_guard(repo: Path, bridge: ToolBridge) -> None:
    def guard(spec: ToolSpec, arguments: Mapping[str, Any]) -> None:
        if str(arguments.get("path", "")).startswith("tests/"):
            raise PermissionDeniedError(f"call {spec.name}", "tests are off limits")

    view = bridge.derive(lambda spec: spec.name.startswith("fs_r"), guard=guard)
    assert view.names == ["fs_read"]
    assert "fs_write" in view.hidden
    assert "def add" in str(view.call("fs_read", "calc.py"))
    with pytest.raises(ToolFailed, match="off limits"):
        view.call("fs_read", "tests/test_calc.py")
    view.close()  # does not close the shared sessions
    assert "def add" in str(bridge.call("fs_read", "calc.py"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_external_http_mcp_server_is_bridged(mcp_server_script: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(mcp_server_script), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        config = MCPServerConfig(url=f"http://127.0.0.1:{port}/mcp")
        with ToolBridge(policy=PermissionPolicy(rules={"remote_*": "allow"})) as tools:
            added = tools.add_mcp(server_client("remote", config), prefix="remote", source="mcp")
            assert "remote_add" in added
            assert tools.call("remote_add", 20, 22) == 42
    finally:
        process.terminate()
        process.wait(10)


def test_the_audit_pins_each_result_by_its_digest_without_keeping_it(bridge: ToolBridge) -> None:
    import hashlib
    import json

    entries: list[tuple[str, Mapping[str, Any]]] = []
    bridge.audit = lambda kind, data: entries.append((kind, data))
    read = bridge.call("fs_read", "calc.py")
    with pytest.raises(ToolFailed):
        bridge.call("fs_read", "missing.py")
    calls = [data for kind, data in entries if kind == "tool_call"]
    assert [c["ok"] for c in calls] == [True, False]
    shown = json.dumps(read, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert calls[0]["result_sha256"] == hashlib.sha256(shown).hexdigest()
    assert calls[0]["result_bytes"] == len(shown)
    assert "return a - b" not in json.dumps(calls[0])  # the content itself is not kept
    assert "result_sha256" not in calls[1]
