"""The eight built-in skills: valid under skills-ref, found after install, scripts work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import skills_ref

from memfun_skills import load_skill, validate_skill

BUILTINS = (
    "analyze-code",
    "ask",
    "explain-code",
    "fix-bugs",
    "generate-tests",
    "refactor",
    "review-code",
    "security-audit",
)


def test_the_eight_are_there(builtins_dir: Path) -> None:
    assert sorted(p.name for p in builtins_dir.iterdir() if p.is_dir()) == list(BUILTINS)


def test_the_packaged_copy_is_the_repository_folder(builtins_dir: Path) -> None:
    repository = Path(__file__).resolve().parents[3] / "skills"
    if not repository.is_dir():
        pytest.skip(f"{repository} is absent (the tests run outside the repository)")

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(builtins_dir) == files(repository)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_is_valid_everywhere(builtins_dir: Path, name: str) -> None:
    folder = builtins_dir / name
    assert skills_ref.validate(folder) == []
    report = validate_skill(folder)
    assert report.valid, report.errors
    assert report.warnings == ()
    skill = load_skill(folder)
    assert skill.warnings == ()
    assert len(skill.body) > 500  # real instructions, not a stub
    assert skill.properties.description.lower().startswith(
        ("map", "review", "explain", "diagnose", "write", "audit", "restructure", "answer")
    )
    for link in (line for line in skill.body.splitlines() if "](references/" in line):
        target = link.split("](", 1)[1].split(")", 1)[0]
        assert (folder / target).is_file(), f"{name} links to missing {target}"


def test_repo_stats_script(builtins_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\ny = 2\n", encoding="utf-8")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "b.js").write_text("skip\n", encoding="utf-8")
    script = builtins_dir / "analyze-code" / "scripts" / "repo_stats.py"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "Python             1         2" in done.stdout
    assert "JavaScript" not in done.stdout


def test_find_secrets_script(builtins_dir: Path, tmp_path: Path) -> None:
    script = builtins_dir / "security-audit" / "scripts" / "find_secrets.py"
    (tmp_path / "clean.py").write_text("print('hello')\n", encoding="utf-8")
    clean = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, check=False
    )
    assert clean.returncode == 0
    fake = "AKIA" + "ABCDEFGHIJKLMNOP"
    (tmp_path / "config.py").write_text(f"KEY = '{fake}'\n", encoding="utf-8")
    dirty = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert dirty.returncode == 1
    assert "config.py:1: AWS access key: AKIA...MNOP" in dirty.stdout
    assert fake not in dirty.stdout


@pytest.mark.slow
def test_wheel_ships_the_builtins(tmp_path: Path, builtins_dir: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH; it builds the wheel")
    package = Path(__file__).resolve().parents[1]
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(package)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("memfun_skills-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = (
        "import memfun_skills as m; d = m.builtin_skills_dir(); print(d); "
        "print(','.join(s.name for s in m.discover_skills("
        "[m.SkillRoot(d, m.Scope.BUILTIN)]).skills))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    location, names = done.stdout.splitlines()
    assert Path(location) == site / "memfun_skills" / "builtin_skills"
    assert tuple(names.split(",")) == BUILTINS
