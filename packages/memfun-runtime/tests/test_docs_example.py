"""The two-agent example of docs/runtime.md runs, here and in a fresh venv."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "runtime.md"
MARKER = "<!-- example: two-agents -->"
EXPECTED = [
    "ponger got ping 1",
    "pinger got pong 1",
    "ponger got ping 2",
    "pinger got pong 2",
    "ponger got ping 3",
    "pinger got pong 3",
]


def example() -> str:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not here (the tests run outside the repository)")
    text = DOC.read_text(encoding="utf-8")
    match = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, f"no python block after {MARKER} in {DOC}"
    return match.group(1)


def run(python: Path | str, folder: Path) -> list[str]:
    script = folder / "example.py"
    script.write_text(example(), encoding="utf-8")
    result = subprocess.run(
        [str(python), str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_example_is_about_twenty_lines() -> None:
    code = [line for line in example().splitlines() if line.strip()]
    assert len(code) <= 30


def test_the_example_runs_and_persists_to_sqlite(tmp_path: Path) -> None:
    assert run(sys.executable, tmp_path) == EXPECTED
    assert (tmp_path / ".memfun" / "runtime.db").exists()
    assert run(sys.executable, tmp_path) == EXPECTED  # a second run on the same file works


@pytest.mark.slow
def test_the_example_runs_in_an_empty_venv_with_only_core_and_runtime(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT / "packages" / "memfun-core"),
            str(ROOT / "packages" / "memfun-runtime"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    work = tmp_path / "work"
    work.mkdir()
    assert run(python, work) == EXPECTED
