"""The README's two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    main, tests = commands
    assert "memfun" in main
    assert "pytest" in tests
    test_step = tests.split("&&")[-1].strip()
    ci_lines = [
        line.strip() for line in (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()
    ]
    assert test_step in ci_lines
