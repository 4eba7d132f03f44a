"""Agent runs write the audit trail, and a cloned repository's MCP servers wait for trust.

Real ``memfun`` subprocesses, the real agent, sandbox and tools; only the model is scripted
(a fake OpenAI-compatible server on 127.0.0.1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from memfun_agent.testing import FakeOpenAI
from memfun_cli.testing import memfun as run_memfun
from memfun_cli.testing import step

SECRET = "tok-secret-value-987654"

# A project MCP server that records that it ran: the attack's payoff is that it runs at all.
SERVER = """
import pathlib, sys
pathlib.Path(sys.argv[1]).write_text("started")
from fastmcp import FastMCP
server = FastMCP("helper")

@server.tool(annotations={"readOnlyHint": True})
def ping() -> str:
    '''Answer.'''
    return "pong"

server.run(show_banner=False)
"""


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memfun(project, *args, env={"DEPLOY_TOKEN": SECRET})


def audit_entries(project: Path) -> list[dict[str, Any]]:
    listed = memfun(project, "audit", "list", "--json", "--last", "0")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]


def test_tool_calls_and_permission_decisions_reach_the_audit_trail(
    project: Path, model: FakeOpenAI
) -> None:
    # A read-only `ask` whose model reads a file and tries to write one (with a secret in it).
    model.replies = [
        step(
            "print(fs_read('calc.py'))\n"
            "try:\n"
            f"    fs_write(path='leak.txt', content='token={SECRET}')\n"
            "except Exception as exc:\n"
            "    print(exc)"
        ),
        step("SUBMIT(answer='add subtracts', summary='read calc.py')"),
    ]
    asked = memfun(project, "ask", "what does calc.py do?", "--json")
    assert asked.returncode == 0, asked.stderr
    assert not (project / "leak.txt").exists()
    # `fix --yes` writes one file.
    model.replies = [
        step("fs_write(path='notes.md', content='add() subtracts')"),
        step("SUBMIT(answer='noted', summary='wrote notes.md')"),
    ]
    fixed = memfun(project, "fix", "add subtracts", "--yes", "--json", "--no-skills")
    assert fixed.returncode == 0, fixed.stderr
    assert (project / "notes.md").read_text() == "add() subtracts"

    entries = audit_entries(project)
    calls = [e["data"] for e in entries if e["kind"] == "tool_call"]
    decisions = [e["data"] for e in entries if e["kind"] == "permission"]
    assert any(c["tool"] == "fs_read" and c["arguments"] == {"path": "calc.py"} for c in calls)
    read = next(d for d in decisions if d["tool"] == "fs_read")
    assert (read["outcome"], read["decision"], read["rule"]) == ("allowed", "allow", "default")
    denied = next(d for d in decisions if d["tool"] == "fs_write" and d["outcome"] == "denied")
    assert (denied["decision"], denied["rule"]) == ("deny", "fs_write")
    assert denied["arguments"]["path"] == "leak.txt"
    failed = next(c for c in calls if c["tool"] == "fs_write" and not c["ok"])
    assert "PermissionDeniedError" in failed["error"]
    allowed = next(d for d in decisions if d["tool"] == "fs_write" and d["outcome"] == "allowed")
    assert (allowed["decision"], allowed["rule"], allowed["asked"]) == ("allow", "fs_write", False)
    assert allowed["arguments"]["path"] == "notes.md"
    # Both runs started sandboxes, recorded with their limits.
    sandboxes = [e["data"] for e in entries if e["kind"] == "sandbox_start"]
    assert sandboxes
    assert all(s["workspace"] == str(project.resolve()) for s in sandboxes)
    assert all("cpu_seconds" in s["limits"] for s in sandboxes)
    # The secret the model tried to write is redacted; the chain verifies.
    trail = (project / ".memfun" / "audit.jsonl").read_text()
    assert SECRET not in trail
    assert "[REDACTED]" in trail
    verified = memfun(project, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_skill_run_records_its_activation(project: Path, model: FakeOpenAI) -> None:
    model.replies = [step("SUBMIT(answer='No findings.', summary='reviewed')")]
    result = memfun(project, "/review-code", "calc.py", "--json")
    assert result.returncode == 0, result.stderr
    activations = [e["data"] for e in audit_entries(project) if e["kind"] == "skill_activation"]
    assert [a["skill"] for a in activations] == ["review-code"]
    assert activations[0]["run_id"] == json.loads(result.stdout)["run_id"]


def test_a_cloned_repositorys_mcp_server_waits_for_trust(
    project: Path, model: FakeOpenAI, tmp_path: Path
) -> None:
    marker = tmp_path / "server-ran"
    (project / "helper.py").write_text(SERVER)
    with (project / "memfun.toml").open("a") as handle:
        handle.write(
            f"[mcp.servers.helper]\ncommand = {sys.executable!r}\n"
            f"args = ['helper.py', {str(marker)!r}]\n"
        )
    model.replies = [
        step("print(sorted(n for n in dir() if n.startswith('helper')))"),
        step("SUBMIT(answer='done', summary='listed')"),
    ]
    untrusted = memfun(project, "ask", "which helper tools are there?", "--json")
    # The run goes on without the server, and says why and what to do.
    assert untrusted.returncode == 0, untrusted.stderr
    assert json.loads(untrusted.stdout)["answer"] == "done"
    assert "project MCP servers helper are inactive" in untrusted.stderr
    assert "is not trusted" in untrusted.stderr
    assert f"memfun trust {project.resolve()}" in untrusted.stderr
    assert not marker.exists()

    trusted = memfun(project, "trust")
    assert trusted.returncode == 0, trusted.stderr
    model.replies = [
        step("print(helper_ping())"),
        step("SUBMIT(answer='pinged', summary='called helper_ping')"),
    ]
    after = memfun(project, "ask", "ping the helper", "--json")
    assert after.returncode == 0, after.stderr
    assert marker.read_text() == "started"
    assert "inactive" not in after.stderr
    calls = [e["data"] for e in audit_entries(project) if e["kind"] == "tool_call"]
    ping = next(c for c in calls if c["tool"] == "helper_ping")
    assert (ping["ok"], ping["source"]) == (True, "mcp:helper"), ping
