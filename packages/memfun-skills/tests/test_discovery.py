"""Discovery: precedence, shadowing, disabled and skipped skills, the prompt block."""

from __future__ import annotations

from pathlib import Path

import pytest
import skills_ref

from memfun_core.config import MemfunConfig, SkillsConfig
from memfun_core.errors import NotFoundError
from memfun_skills import (
    Scope,
    SkillRoot,
    default_roots,
    discover_from_config,
    discover_skills,
    to_prompt,
)
from memfun_skills.testing import write_skill, write_skill_md


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    project = tmp_path / "project"
    home = tmp_path / "home"
    write_skill(project / ".memfun/skills", "review", "Project memfun review.")
    write_skill(project / ".agents/skills", "review", "Project agents review.")
    write_skill(project / ".agents/skills", "lint", "Project agents lint.")
    write_skill(project / ".claude/skills", "lint", "Project claude lint.")
    write_skill(project / ".claude/skills", "deploy", "Project claude deploy.")
    write_skill(home / ".memfun/skills", "deploy", "User deploy.")
    write_skill(home / ".claude/skills", "notes", "User notes.")
    write_skill(project / "extra", "notes", "Configured notes.")
    return project, home


def test_precedence_and_shadowing(tmp_path: Path) -> None:
    project, home = _layout(tmp_path)
    roots = default_roots(project, home=home, extra_paths=["extra"], include_builtins=False)
    assert [root.scope for root in roots] == [Scope.PROJECT] * 3 + [Scope.CONFIG] + [Scope.USER] * 3
    catalog = discover_skills(roots)
    by_name = {skill.name: skill for skill in catalog.skills}
    assert by_name["review"].description == "Project memfun review."
    assert by_name["lint"].description == "Project agents lint."
    assert by_name["deploy"].description == "Project claude deploy."
    assert by_name["notes"].description == "Configured notes."
    assert by_name["notes"].scope == Scope.CONFIG
    hidden = {(s.skill.description, s.by.description) for s in catalog.shadowed}
    assert hidden == {
        ("Project agents review.", "Project memfun review."),
        ("Project claude lint.", "Project agents lint."),
        ("User deploy.", "Project claude deploy."),
        ("User notes.", "Configured notes."),
    }


def test_builtins_come_last_and_are_shadowable(tmp_path: Path, builtins_dir: Path) -> None:
    project = tmp_path / "project"
    write_skill(project / ".claude/skills", "review-code", "My own review.")
    catalog = discover_skills(default_roots(project, home=tmp_path / "home"))
    assert catalog.roots[-1].scope == Scope.BUILTIN
    assert catalog.roots[-1].path == builtins_dir
    assert catalog.require("review-code").description == "My own review."
    shadowed = [s.skill for s in catalog.shadowed if s.skill.name == "review-code"]
    assert [s.scope for s in shadowed] == [Scope.BUILTIN]
    assert catalog.require("/ask").scope == Scope.BUILTIN


def test_disabled_and_skipped_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    write_skill(root, "good", "Fine.")
    write_skill(root, "off", "Disabled.")
    write_skill_md(root / "broken", "no frontmatter here\n")
    write_skill_md(root / "binary", b"---\nname: binary\ndescription: \xff\n---\n")
    (root / "not-a-skill").mkdir()
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)], disabled=["off"])
    assert catalog.names == ("good",)
    assert [s.name for s in catalog.disabled] == ["off"]
    assert sorted((s.path.name, s.error.rule) for s in catalog.skipped) == [
        ("binary", "not-utf8"),
        ("broken", "frontmatter-missing"),
    ]
    with pytest.raises(NotFoundError) as caught:
        catalog.require("off")
    assert "disabled" in str(caught.value)
    with pytest.raises(NotFoundError) as caught:
        catalog.require("goood")
    assert caught.value.suggestions == ("good",)


def test_discovery_does_not_read_the_body(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    write_skill_md(root / "s", b"---\nname: s\ndescription: d\n---\n" + b"\x80" * 50_000)
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)])
    assert catalog.names == ("s",)


def test_lenient_warnings_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    write_skill_md(root / "s", "---\nname: s\ndescription: d\nallowed-tools: [Read]\n---\n")
    (skill,) = discover_skills([SkillRoot(root, Scope.PROJECT)]).skills
    assert skill.properties.allowed_tools == ("Read",)
    assert [w.rule for w in skill.warnings] == ["lenient-yaml", "field-type"]


def test_from_config(tmp_path: Path) -> None:
    project, home = _layout(tmp_path)
    config = MemfunConfig(
        skills=SkillsConfig(paths=("extra",), disabled=("lint",)), project_root=str(project)
    )
    catalog = discover_from_config(config, home=home)
    assert "lint" not in catalog.names
    assert catalog.require("notes").scope == Scope.CONFIG
    assert "review-code" in catalog.names  # built-ins


def test_prompt_block_matches_skills_ref(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    write_skill(root, "alpha", 'Escapes <tags> & "quotes".')
    write_skill(root, "beta", "Plain.")
    catalog = discover_skills([SkillRoot(root, Scope.PROJECT)])
    expected = skills_ref.to_prompt([root / "alpha", root / "beta"])
    assert to_prompt(skill.properties for skill in catalog.skills) == expected
    assert to_prompt([]) == skills_ref.to_prompt([])
