"""Discovery: precedence (project, user, built-in), both layouts, shadowing, lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions import discover_agents
from memfun_core.errors import NotFoundError


def _agent(folder: Path, name: str, description: str, *, nested: bool = False) -> Path:
    path = folder / name / "AGENT.md" if nested else folder / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nname: {name}\ndescription: {description}\n---\nWork.\n")
    return path


def test_precedence_and_shadowing(tmp_path: Path) -> None:
    project, home = tmp_path / "proj", tmp_path / "home"
    _agent(project / ".memfun" / "agents", "reviewer", "project memfun", nested=True)
    _agent(project / ".agents" / "agents", "reviewer", "project agents")
    _agent(project / ".claude" / "agents", "reviewer", "project claude")
    _agent(project / ".claude" / "agents", "linter", "project claude linter")
    _agent(home / ".memfun" / "agents", "linter", "user memfun linter")
    _agent(home / ".memfun" / "agents", "helper", "user memfun helper", nested=True)
    _agent(home / ".claude" / "agents", "helper", "user claude helper")
    _agent(home / ".claude" / "agents", "coder", "user coder")
    catalog = discover_agents(project, home=home)
    described = {agent.name: (agent.description, agent.scope) for agent in catalog.all()}
    assert described["reviewer"] == ("project memfun", "project")
    assert described["linter"] == ("project claude linter", "project")
    assert described["helper"] == ("user memfun helper", "user")
    assert described["coder"] == ("user coder", "user")  # the user's coder replaces the built-in
    assert described["explorer"][1] == "builtin"
    hidden = {(s.agent.description, s.by.description) for s in catalog.shadowed}
    assert ("project agents", "project memfun") in hidden
    assert ("project claude", "project memfun") in hidden
    assert ("user memfun linter", "project claude linter") in hidden
    assert ("user claude helper", "user memfun helper") in hidden
    assert any(s.agent.scope == "builtin" and s.agent.name == "coder" for s in catalog.shadowed)
    assert any(line.startswith("shadowed reviewer") for line in catalog.diagnostics)
    assert [root.scope for root in catalog.roots] == ["project"] * 3 + ["user"] * 2 + ["builtin"]


def test_lookup_suggests_and_explains(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    _agent(project / ".claude" / "agents", "code-reviewer", "Reviews.")
    broken = project / ".claude" / "agents" / "broken.md"
    broken.write_text("---\nname: broken\n---\n")
    catalog = discover_agents(project, home=tmp_path / "home", include_builtins=False)
    assert catalog.get("@code-reviewer") is catalog.require("code-reviewer")
    with pytest.raises(NotFoundError) as close:
        catalog.require("code-reviewr")
    assert close.value.suggestions == ("code-reviewer",)
    with pytest.raises(NotFoundError) as why:
        catalog.require("broken")
    assert "description" in str(why.value.hint)


def test_readme_and_hidden_files_are_not_agents(tmp_path: Path) -> None:
    folder = tmp_path / "proj" / ".memfun" / "agents"
    _agent(folder, "real", "Real.")
    (folder / "README.md").write_text("# My agents\n")
    (folder / ".draft.md").write_text("---\nname: draft\n---\n")
    catalog = discover_agents(tmp_path / "proj", home=tmp_path / "home", include_builtins=False)
    assert catalog.names == ("real",)
    assert catalog.skipped == ()
