from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memfun_cli.testing import memfun

BUILTINS = {
    "analyze-code",
    "ask",
    "explain-code",
    "fix-bugs",
    "generate-tests",
    "refactor",
    "review-code",
    "security-audit",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "proj").mkdir()
    return tmp_path / "proj"


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return memfun(project, "skill", *args, timeout=60)


def write_skill(folder: Path, name: str, description: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: {description}\n---\n\nDo it.\n", encoding="utf-8"
    )
    return folder


def test_list_shows_builtins_and_reports_shadowing(project: Path) -> None:
    write_skill(project / ".claude/skills/review-code", "review-code", "Our own review rules.")
    write_skill(project / ".agents/skills/loose", "Loose_Name", "Loaded leniently, with a warning.")
    (project / ".agents/skills/broken").mkdir(parents=True)
    (project / ".agents/skills/broken/SKILL.md").write_text("no frontmatter\n", encoding="utf-8")
    result = run(project, "list", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = [s["name"] for s in data["skills"]]
    assert set(names) >= BUILTINS
    review = next(s for s in data["skills"] if s["name"] == "review-code")
    assert review["scope"] == "project"
    assert review["path"] == str(project / ".claude/skills/review-code")
    assert [s["name"] for s in data["shadowed"]] == ["review-code"]
    assert data["skipped"]
    assert data["skipped"][0]["path"].endswith("broken")
    loose = next(s for s in data["skills"] if s["name"] == "Loose_Name")
    assert loose["warnings"]
    text = run(project, "list")
    assert "/review-code" in text.stdout
    assert "warning: /Loose_Name" in text.stderr
    assert "shadowed:" in text.stdout


def test_info_and_typo(project: Path) -> None:
    result = run(project, "info", "/review-code", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "review-code"
    assert data["scope"] == "builtin"
    assert "references/checklist.md" in data["files"]
    typo = run(project, "info", "reveiw-code")
    assert typo.returncode == 2
    assert "did you mean 'review-code'" in typo.stderr


def test_validate_exit_codes(project: Path) -> None:
    good = write_skill(project / "good-skill", "good-skill", "Does good things.")
    bad = write_skill(project / "bad-skill", "other-name", "Name does not match the folder.")
    ok = run(project, "validate", str(good))
    assert ok.returncode == 0
    assert "Valid skill" in ok.stdout
    failed = run(project, "validate", str(bad), "--json")
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert report["valid"] is False
    assert any(e["field"] == "name" for e in report["errors"])
    missing = run(project, "validate", str(project / "nope"))
    assert missing.returncode == 2


def test_create_writes_a_valid_discoverable_skill(project: Path) -> None:
    result = run(
        project,
        "create",
        "check-licenses",
        "-d",
        "Check dependency licenses. Use when asked about licenses.",
    )
    assert result.returncode == 0, result.stderr
    skill_md = project / ".memfun/skills/check-licenses/SKILL.md"
    assert skill_md.is_file()
    assert run(project, "validate", str(skill_md.parent)).returncode == 0
    listed = json.loads(run(project, "list", "--json").stdout)
    assert listed["skills"][0]["name"] == "check-licenses"
    again = run(project, "create", "check-licenses", "-d", "x")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    bad = run(project, "create", "Bad_Name", "-d", "x")
    assert bad.returncode == 2
    assert "invalid skill name" in bad.stderr
