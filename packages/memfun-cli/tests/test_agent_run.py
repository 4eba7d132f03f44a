"""`memfun agent run NAME "task"` and `memfun @NAME "task"` as a new user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import CALC, new_project
from memfun_cli.testing import memfun as run_memfun

REVIEWER = """---
name: reviewer
description: Reviews code for bugs.
tools: Read, Grep
---
You are REVIEWER-7. Report bugs; never edit.
"""


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    files = {".memfun/agents/reviewer.md": REVIEWER, "calc.py": CALC}
    return new_project(tmp_path, model.base, files=files, tier="sqlite", max_iterations=None)


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # project agents are inactive in an untrusted folder
    return run_memfun(project, *args, trusted=True)


def test_at_name_runs_the_agent_with_progress_and_json(project: Path, model: FakeOpenAI) -> None:
    model.replies = [
        format_fields({"reasoning": "Read calc.py.", "code": "print(fs_read('calc.py'))"}),
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer='add() subtracts', summary='no changes')"}
        ),
    ]
    result = memfun(project, "@reviewer", "Review calc.py", "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["outcome"] == "completed"
    assert data["agent"] == "reviewer"
    assert data["answer"] == "add() subtracts"
    assert data["run_id"]
    assert "You are REVIEWER-7" in str(model.requests[0]["messages"][0]["content"])
    # The trace is stored in the project's runtime, where `memfun trace` reads it.
    shown = memfun(project, "trace", "show", data["run_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["metadata"]["agent"] == "reviewer"


def test_an_unknown_agent_names_the_close_ones(project: Path) -> None:
    result = memfun(project, "agent", "run", "reviewr", "x")
    assert result.returncode == 2
    assert "reviewer" in result.stderr
    assert "Traceback" not in result.stderr
