"""The audit trail, attacked: someone (a hostile model, a script, a person covering tracks) edits,
deletes or reorders entries of ``.memfun/audit.jsonl``; ``memfun audit verify`` must say so.

The trail is written by real activity: ``memfun mcp serve`` over stdio driven by the official MCP
client.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from memfun_cli.testing import MEMFUN, cli_env, new_project
from memfun_cli.testing import memfun as run_memfun

SECRET = "audit-secret-value-0123456789"


def make_project(root: Path) -> Path:
    return new_project(root, None, files={"hello.txt": "hello\n"})


def env_for(project: Path) -> dict[str, str]:
    return cli_env(project, {"MY_SERVICE_TOKEN": SECRET})  # a secret the server process can see


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memfun(project, *args, env={"MY_SERVICE_TOKEN": SECRET}, timeout=90)


def record_session(project: Path) -> Path:
    """Drive a real ``memfun mcp serve`` session in ``project``; return its audit file."""
    import asyncio

    async def session() -> None:
        params = StdioServerParameters(
            command=MEMFUN, args=["mcp", "serve", "--no-web"], cwd=str(project),
            env=env_for(project),
        )  # fmt: skip
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            await client.list_tools()
            await client.call_tool("fs_read", {"path": "hello.txt"})
            await client.call_tool("fs_read", {"path": f"notes-{SECRET}.txt"})
            await client.call_tool("fs_read", {"path": "../outside.txt"})

    asyncio.run(session())
    path = project / ".memfun" / "audit.jsonl"
    assert path.exists()
    return path


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genuine trail written by a real MCP session; returns its file."""
    return record_session(make_project(tmp_path_factory.mktemp("audit")))


def fresh_copy(trail: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    project = make_project(tmp_path)
    target = project / ".memfun" / "audit.jsonl"
    target.parent.mkdir()
    shutil.copy(trail, target)
    return project, target.read_text(encoding="utf-8").splitlines()


def write_lines(project: Path, lines: list[str]) -> None:
    (project / ".memfun" / "audit.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_mcp_requests_are_recorded_and_the_genuine_trail_verifies(
    trail: Path, tmp_path: Path
) -> None:
    project, lines = fresh_copy(trail, tmp_path)
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    calls = [e["data"] for e in entries if e["data"].get("method") == "tools/call"]
    assert [c["name"] for c in calls] == ["fs_read", "fs_read", "fs_read"]
    assert calls[0]["outcome"] == "ok"
    assert calls[0]["arguments"] == {"path": "hello.txt"}
    assert any(e["data"].get("method") == "tools/list" for e in entries)
    assert SECRET not in trail.read_text(encoding="utf-8")  # redacted before it is written
    assert "[REDACTED]" in calls[1]["arguments"]["path"]

    verified = memfun(project, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok: {len(lines)} entries" in verified.stdout
    listed = memfun(project, "audit", "list", "--kind", "mcp_request")
    assert listed.returncode == 0
    assert "fs_read" in listed.stdout
    shown = json.loads(memfun(project, "audit", "show", "1").stdout)
    assert shown["seq"] == 1
    assert shown["prev"] == "0" * 64
    exported = json.loads(memfun(project, "audit", "export").stdout)
    assert exported["verified"] is True
    assert len(exported["entries"]) == len(lines)


def rehash(entry: dict[str, object]) -> dict[str, object]:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**body, "hash": hashlib.sha256(canonical.encode()).hexdigest()}


def tamper_edit(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["data"]["outcome"] = "nothing happened here"
    return [*lines[:2], json.dumps(entry), *lines[3:]]


def tamper_edit_and_rehash(lines: list[str]) -> list[str]:
    # A careful attacker recomputes the edited entry's own hash: the next entry's prev breaks.
    entry = json.loads(lines[2])
    entry["data"]["name"] = "fs_list"
    return [*lines[:2], json.dumps(rehash(entry)), *lines[3:]]


def tamper_delete(lines: list[str]) -> list[str]:
    return [*lines[:2], *lines[3:]]


def tamper_reorder(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def tamper_delete_and_renumber(lines: list[str]) -> list[str]:
    # Remove an entry and renumber (and rehash) the rest: the chain of prev still breaks.
    kept = [json.loads(line) for i, line in enumerate(lines) if i != 1]
    for seq, entry in enumerate(kept, start=1):
        entry["seq"] = seq
    return [json.dumps(rehash(entry)) for entry in kept]


@pytest.mark.parametrize(
    ("tamper", "line"),
    [
        (tamper_edit, 3),
        (tamper_edit_and_rehash, 4),
        (tamper_delete, 3),
        (tamper_reorder, 2),
        (tamper_delete_and_renumber, 2),
    ],
)
def test_verify_detects_tampering(
    trail: Path, tmp_path: Path, tamper: Callable[[list[str]], list[str]], line: int
) -> None:
    project, lines = fresh_copy(trail, tmp_path)
    assert len(lines) >= 5
    assert callable(tamper)
    write_lines(project, tamper(lines))
    result = memfun(project, "audit", "verify")
    assert result.returncode == 1
    assert "NOT OK" in result.stdout
    assert f"audit.jsonl:{line}:" in result.stderr
    report = json.loads(memfun(project, "audit", "verify", "--json").stdout)
    assert report["ok"] is False
    assert report["problems"][0]["line"] == line


def test_an_unreadable_line_is_reported_with_its_number(trail: Path, tmp_path: Path) -> None:
    project, lines = fresh_copy(trail, tmp_path)
    write_lines(project, [*lines, "{not json"])
    result = memfun(project, "audit", "verify")
    assert result.returncode == 1
    assert f"audit.jsonl:{len(lines) + 1}: not an audit entry" in result.stderr


def test_a_trail_cut_at_its_end_or_deleted_is_reported_and_the_evidence_survives_appends(
    tmp_path: Path,
) -> None:
    """The chain alone cannot see a cut end; the witness outside the repository can."""
    project = make_project(tmp_path)
    path = record_session(project)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert memfun(project, "audit", "verify").returncode == 0
    witnesses = list((project.parent / "home" / ".config" / "memfun" / "audit").glob("*.json"))
    assert len(witnesses) == 1, "the witness lives in the user's config folder, not the repo"

    write_lines(project, lines[:-2])  # a hostile process covers its last two steps
    result = memfun(project, "audit", "verify")
    assert result.returncode == 1
    assert f"entry {len(lines)} was written" in result.stderr
    assert "cut off or deleted" in result.stderr

    record_session(project)  # work goes on: the chain resumes after the cut ...
    result = memfun(project, "audit", "verify")
    assert result.returncode == 1  # ... and the evidence of the cut is kept
    assert f"entries after {len(lines)} were cut off" in result.stderr

    path.unlink()
    result = memfun(project, "audit", "verify")
    assert result.returncode == 1
    assert "cut off or deleted" in result.stderr
