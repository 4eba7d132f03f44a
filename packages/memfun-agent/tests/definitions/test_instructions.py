"""Project instructions: AGENTS.md (else CLAUDE.md) from the root down, nearest first, bounded."""

from __future__ import annotations

from pathlib import Path

from memfun_agent.definitions import load_project_instructions
from memfun_core.config import AgentsConfig, load_config


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "pkg" / "deep").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "AGENTS.md").write_text("ROOT rules: run make test.\n")
    (root / "CLAUDE.md").write_text("ROOT claude file (AGENTS.md wins).\n")
    (root / "src" / "CLAUDE.md").write_text("SRC rules from CLAUDE.md.\n")
    (root / "src" / "pkg" / "AGENTS.md").write_text("PKG rules: no globals.\n")
    (root / "docs" / "AGENTS.md").write_text("DOCS rules.\n")
    (root / "src" / "pkg" / "deep" / "mod.py").write_text("x = 1\n")
    return root


def test_nearest_first_with_claude_fallback(tmp_path: Path) -> None:
    root = _project(tmp_path)
    text = load_project_instructions(root, ["src/pkg/deep/mod.py"])
    order = [text.index(marker) for marker in ("PKG rules", "SRC rules", "ROOT rules")]
    assert order == sorted(order)
    assert "ROOT claude" not in text  # AGENTS.md is preferred in the same folder
    assert "DOCS" not in text  # not between the root and the file
    assert "## src/pkg/AGENTS.md" in text
    assert load_project_instructions(root) == "## AGENTS.md\n\nROOT rules: run make test.\n"


def test_the_budget_cuts_the_farthest_and_says_so(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "AGENTS.md").write_text("ROOT " + "r" * 5_000 + "\n")
    (root / "src" / "pkg" / "AGENTS.md").write_text("PKG " + "p" * 500 + "\n")
    text = load_project_instructions(root, [root / "src" / "pkg" / "deep" / "mod.py"], budget=2_000)
    assert len(text.encode()) <= 2_000
    assert "p" * 500 in text  # the nearest file is whole
    assert "[truncated: AGENTS.md has 5006 bytes" in text
    tiny = load_project_instructions(root, ["src/pkg/deep/mod.py"], budget=700)
    assert len(tiny.encode()) <= 700
    assert "left out" in tiny
    assert "AGENTS.md" in tiny.split("left out")[1]


def test_configurable_off_and_budget_from_config(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "memfun.toml").write_text("[agents]\nproject_instructions = false\n")
    config = load_config(root, environ={}, files=[root / "memfun.toml"])
    assert load_project_instructions(root, ["src/pkg/deep/mod.py"], config=config) == ""
    small = AgentsConfig(project_instructions_bytes=600)
    text = load_project_instructions(root, ["src/pkg/deep/mod.py"], config=small)
    assert 0 < len(text.encode()) <= 600


def test_a_hostile_repository_cannot_pull_host_files_into_the_prompt(tmp_path: Path) -> None:
    """AGENTS.md linking to a secret outside the project, paths escaping the root: nothing read."""
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- SECRET\n")
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "AGENTS.md").symlink_to(secret)
    (root / "src" / "AGENTS.md").write_bytes(b"\xff\xfe binary \x00")
    (root / "src" / "CLAUDE.md").write_text("SRC fallback is not used when AGENTS.md exists.\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "AGENTS.md").write_text("OUTSIDE SECRET\n")
    text = load_project_instructions(root, ["src/x.py", "../elsewhere/f.py", str(outside / "f.py")])
    assert "SECRET" not in text
    assert "src/AGENTS.md" in text  # named as left out (not UTF-8), not silently dropped
