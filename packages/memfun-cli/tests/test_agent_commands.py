"""``memfun agent list|info|validate|create`` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memfun_cli.testing import memfun

BUILTINS = {
    "orchestrator",
    "coder",
    "reviewer",
    "tester",
    "security-auditor",
    "explorer",
    "agent-architect",
}
CLAUDE_FILE = """---
name: code-reviewer
description: Expert code reviewer. Use after writing code.
tools: Read, Grep, Glob, Bash(git diff:*)
model: inherit
memory: project
---
Review the diff.
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "proj").mkdir()
    return tmp_path / "proj"


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # project agents are inactive in an untrusted folder
    return memfun(project, "agent", *args, trusted=True, timeout=120)


def test_list_shows_builtins_project_agents_shadowing_and_broken_files(project: Path) -> None:
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "code-reviewer.md").write_text(CLAUDE_FILE)
    (agents / "coder.md").write_text("---\nname: coder\ndescription: Our own coder.\n---\nCode.\n")
    (agents / "broken.md").write_text("---\nname: Broken\ndescription: d\n---\n")
    listed = run(project, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    scopes = {agent["name"]: agent["scope"] for agent in data["agents"]}
    assert set(scopes) >= BUILTINS
    assert scopes["code-reviewer"] == "project"
    assert scopes["coder"] == "project"
    assert [s["name"] for s in data["shadowed"]] == ["coder"]
    assert data["skipped"][0]["rule"] == "name-lowercase"
    assert data["skipped"][0]["line"] == 2
    text = run(project, "list")
    assert "@code-reviewer" in text.stdout
    assert "shadowed:" in text.stdout
    assert "broken.md:2: name:" in text.stderr
    assert "memory" in text.stderr  # the unhonoured field is named


def test_info_shows_mapped_tools_and_warnings(project: Path) -> None:
    agents = project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "code-reviewer.md").write_text(CLAUDE_FILE)
    shown = run(project, "info", "@code-reviewer", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["tools"] == ["fs_read", "search_text", "fs_glob", "git_diff"]
    assert data["extra"] == {"memory": "project"}
    assert any("memory" in warning for warning in data["warnings"])
    text = run(project, "info", "code-reviewer")
    assert "Bash(git diff:*) -> git_diff" in text.stdout
    missing = run(project, "info", "code-reviewr")
    assert missing.returncode != 0
    assert "code-reviewer" in missing.stderr  # suggested


def test_validate_exits_1_with_file_line_field_rule(project: Path) -> None:
    good = project / "good.md"
    good.write_text(CLAUDE_FILE.replace("code-reviewer", "good"))
    bad = project / "bad.md"
    bad.write_text("---\nname: bad\ndescription: d\ntools:\n  Read: yes\n---\n")
    ok = run(project, "validate", str(good))
    assert ok.returncode == 0
    assert "valid:" in ok.stdout
    failed = run(project, "validate", str(good), str(bad))
    assert failed.returncode == 1
    assert f"{bad}:4: tools: " in failed.stderr
    assert "[tools-type]" in failed.stderr
    reports = json.loads(run(project, "validate", str(bad), "--json").stdout)
    assert reports[0]["errors"][0]["line"] == 4
    builtins = Path(__file__).resolve().parents[3] / "agents"
    assert run(project, "validate", str(builtins)).returncode == 0


def test_create_writes_a_valid_file_and_never_overwrites(project: Path) -> None:
    created = run(
        project,
        "create",
        "doc-writer",
        "-d",
        "Writes docs: guides and API pages.",
        "--tools",
        "Read, Grep, Edit",
    )
    assert created.returncode == 0, created.stderr
    path = project / ".memfun" / "agents" / "doc-writer.md"
    assert path.is_file()
    assert run(project, "validate", str(path)).returncode == 0
    info = json.loads(run(project, "info", "doc-writer", "--json").stdout)
    assert info["description"] == "Writes docs: guides and API pages."
    assert info["tools"] == ["fs_read", "search_text", "fs_edit"]
    before = path.read_text()
    again = run(project, "create", "doc-writer", "-d", "Other.")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert path.read_text() == before
    bad = run(project, "create", "../escape", "-d", "x")
    assert bad.returncode != 0
    assert not (project / ".memfun" / "escape.md").exists()
    user = run(project, "create", "mine", "-d", "Mine.", "--scope", "user")
    assert user.returncode == 0, user.stderr
    assert (project.parent / "home" / ".memfun" / "agents" / "mine.md").is_file()
