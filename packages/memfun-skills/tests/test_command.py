"""``memfun skill validate`` semantics: exit codes, text and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from memfun_skills import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, run_validate
from memfun_skills.testing import write_skill, write_skill_md


def test_valid(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "good", "Does good things.")
    out = run_validate(folder)
    assert out.exit_code == EXIT_VALID
    assert out.stdout == f"Valid skill: {folder}\n"
    assert out.stderr == ""
    assert run_validate(folder / "SKILL.md").exit_code == EXIT_VALID


def test_invalid_text_and_json(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    write_skill_md(folder, "---\nname: Bad_Name\ndescription: d\nversion: 1\n---\n")
    out = run_validate(folder)
    assert out.exit_code == EXIT_INVALID
    assert out.stderr.startswith(f"Validation failed for {folder}:\n")
    assert "name-lowercase" not in out.stderr  # text names the rule in words
    assert "must be lowercase" in out.stderr
    data = json.loads(run_validate(folder, as_json=True).stdout)
    assert data["valid"] is False
    rules = sorted(error["rule"] for error in data["errors"])
    assert rules == sorted(
        ["unexpected-fields", "name-lowercase", "name-characters", "name-folder-mismatch"]
    )
    for error in data["errors"]:
        assert error["location"] == str(folder / "SKILL.md")
        assert error["field"]
        assert error["hint"]


def test_usage_errors(tmp_path: Path) -> None:
    assert run_validate(None).exit_code == EXIT_USAGE
    missing = run_validate(tmp_path / "nope")
    assert missing.exit_code == EXIT_USAGE
    assert "does not exist" in missing.stderr
    data = json.loads(run_validate(tmp_path / "nope", as_json=True).stdout)
    assert data["errors"][0]["rule"] == "usage"


def test_exit_codes_match_agentskills_cli(tmp_path: Path) -> None:
    good = write_skill(tmp_path, "good", "d")
    bad = tmp_path / "bad"
    write_skill_md(bad, "no frontmatter\n")
    for folder in (good, bad, tmp_path / "missing"):
        reference = subprocess.run(
            [str(Path(sys.executable).parent / "agentskills"), "validate", str(folder)],
            capture_output=True,
            check=False,
        )
        assert run_validate(folder).exit_code == reference.returncode, folder
