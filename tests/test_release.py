"""The release tooling: sibling ranges, changelogs, bumps, tags, and each package installing alone."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "release.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("memfun_release", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["memfun_release"] = module
    spec.loader.exec_module(module)
    return module


release = _load()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the workspace's package manifests and changelogs."""
    for folder in (ROOT / "packages").iterdir():
        target = tmp_path / "packages" / folder.name
        target.mkdir(parents=True)
        for name in ("pyproject.toml", "CHANGELOG.md", "README.md"):
            shutil.copy(folder / name, target / name)
    return tmp_path


def test_the_workspace_passes_its_own_checks() -> None:
    packages = release.load_workspace()
    assert list(packages) == [f"memfun-{n}" for n in release.NAMES]
    assert release.check_ranges(packages) == []
    assert release.check_changelogs(packages) == []


def test_a_range_the_workspace_does_not_provide_fails(workspace: Path) -> None:
    agent = workspace / "packages" / "memfun-agent" / "pyproject.toml"
    text = agent.read_text(encoding="utf-8")
    agent.write_text(text.replace('"memfun-core>=0.1,<0.2"', '"memfun-core>=0.2,<0.3"'))
    problems = release.check_ranges(release.load_workspace(workspace))
    assert problems == [
        "memfun-agent requires memfun-core<0.3,>=0.2, but the workspace has memfun-core 0.1.0: "
        "run `release.py bump memfun-core ...` or widen the range"
    ]


def test_a_missing_changelog_section_fails(workspace: Path) -> None:
    changelog = workspace / "packages" / "memfun-tools" / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## [Unreleased]\n", encoding="utf-8")
    problems = release.check_changelogs(release.load_workspace(workspace))
    assert problems == [f"{changelog} has no '## [0.1.0]' section"]


def test_bump_moves_version_ranges_and_changelog_together(workspace: Path) -> None:
    packages = release.load_workspace(workspace)
    core = workspace / "packages" / "memfun-core"
    changelog = core / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    start = text.index("## [Unreleased]\n")
    end = text.index("\n## [", start + 1)  # whatever the real file holds unreleased is replaced
    changelog.write_text(
        text[:start] + "## [Unreleased]\n\n### Fixed\n\n- A thing.\n" + text[end:],
        encoding="utf-8",
    )
    release.bump(packages, "memfun-core", "0.2.0", today="2027-01-02")
    after = release.load_workspace(workspace)
    assert str(after["memfun-core"].version) == "0.2.0"
    for package in after.values():
        if "memfun-core" in package.siblings:
            assert str(package.siblings["memfun-core"].specifier) == "<0.3,>=0.2"
    assert release.check_ranges(after) == []
    assert release.changelog_section(after["memfun-core"], "0.2.0") == "### Fixed\n\n- A thing."
    assert "## [Unreleased]\n\n## [0.2.0] - 2027-01-02" in changelog.read_text(encoding="utf-8")


def test_bump_refuses_a_version_that_does_not_go_up(workspace: Path) -> None:
    packages = release.load_workspace(workspace)
    with pytest.raises(release.ReleaseError, match=r"0\.0\.9 is not above memfun-core's"):
        release.bump(packages, "memfun-core", "0.0.9")


def test_tags_name_one_package_or_all_seven() -> None:
    packages = release.load_workspace()
    version = packages["memfun-runtime"].version
    assert release.tag_packages(packages, f"memfun-runtime-v{version}") == ["memfun-runtime"]
    assert len(release.tag_packages(packages, f"memfun-v{version}")) == 7
    with pytest.raises(release.ReleaseError, match="neither"):
        release.tag_packages(packages, "v1.0.0")
    with pytest.raises(release.ReleaseError, match="names no package"):
        release.tag_packages(packages, f"memfun-nothing-v{version}")
    with pytest.raises(release.ReleaseError, match="but memfun-core is"):
        release.tag_packages(packages, "memfun-core-v9.9.9")


@pytest.mark.slow
def test_every_package_installs_alone_from_its_wheel() -> None:
    """Build all seven, install each alone in a fresh venv, import its API, run its smoke check."""
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH (pip install uv)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "dry-run", "--no-tests"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run passed: 7 sdists, 7 wheels, nothing uploaded" in done.stdout
    for name in release.load_workspace():
        assert f"--> {name}: install alone, smoke check" in done.stdout
