"""Every built-in agent in the repository's agents/ folder is a valid, complete definition."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions import (
    AGENT_VALIDATE_TOOL,
    builtin_agents_dir,
    discover_agents,
    validate_agent_file,
)
from memfun_agent.tools import ToolBridge
from memfun_skills import map_allowed_tools

AGENTS = Path(__file__).resolve().parents[4] / "agents"
BUILTINS = {
    "orchestrator",
    "coder",
    "reviewer",
    "tester",
    "security-auditor",
    "explorer",
    "agent-architect",
}
# Tools the agent adds to the gateway's own (shell and verify by the agent, the validator
# for agent-architect); delegate is offered to any definition with delegates.
AGENT_TOOLS = {"shell", "verify", AGENT_VALIDATE_TOOL}


@pytest.mark.parametrize(
    "path", sorted(p for p in AGENTS.glob("*.md") if p.name != "README.md"), ids=lambda p: p.name
)
def test_every_file_in_agents_validates_without_warnings(path: Path) -> None:
    report = validate_agent_file(path)
    assert report.valid, [str(error) for error in report.errors]
    assert report.warnings == ()
    agent = report.definition
    assert agent is not None
    assert agent.name == path.stem
    assert len(agent.description) > 80  # what the orchestrator matches: a real description
    assert "SUBMIT" in agent.instructions  # says what to hand back
    assert agent.capabilities
    assert agent.budgets.max_iterations is not None


def test_the_packaged_builtins_are_the_repository_folder() -> None:
    found = builtin_agents_dir()
    assert found is not None
    # In a checkout it is agents/ itself; installed from the wheel, a copy of it.
    assert {p.name: p.read_bytes() for p in found.glob("*.md")} == {
        p.name: p.read_bytes() for p in AGENTS.glob("*.md")
    }


def test_the_builtins_are_discovered_and_complete() -> None:
    catalog = discover_agents(AGENTS.parent / "no-project", home=AGENTS.parent / "no-home")
    assert set(catalog.names) == BUILTINS
    assert catalog.skipped == ()
    orchestrator = catalog.require("orchestrator")
    assert orchestrator.delegates == ("*",)
    assert all(orchestrator.may_delegate_to(name) for name in BUILTINS)
    for agent in catalog.all():
        assert set(agent.delegates) - {"*"} <= BUILTINS, agent.name


def test_read_only_builtins_have_no_writing_tool() -> None:
    catalog = discover_agents(AGENTS.parent / "no-project", home=AGENTS.parent / "no-home")
    read_only = {agent.name for agent in catalog.all() if agent.read_only}
    assert {"explorer", "reviewer", "security-auditor", "orchestrator"} <= read_only
    for name in read_only:
        tools = set(catalog.require(name).tools or ())
        assert not tools & {"fs_write", "fs_edit", "fs_multi_edit", "shell", "git_commit"}


def test_builtin_tools_and_claude_names_exist_in_the_real_tool_gateway(bridge: ToolBridge) -> None:
    catalog = discover_agents(AGENTS.parent / "no-project", home=AGENTS.parent / "no-home")
    available = set(bridge.names) | AGENT_TOOLS
    for agent in catalog.all():
        assert set(agent.tools or ()) <= available, (agent.name, set(agent.tools or ()) - available)
    grants, unmapped = map_allowed_tools(
        ["Read", "Grep", "Glob", "LS", "Edit", "MultiEdit", "Write"]
    )
    assert unmapped == ()
    assert {grant.tool for grant in grants} <= set(bridge.names)
