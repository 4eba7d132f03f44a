"""`memfun agent run NAME "task"` and `memfun @NAME "task"` as a new user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, fake_openai_server, format_fields
from memfun_core.trust import trust_folder

MEMFUN = str(Path(sys.executable).parent / "memfun")

REVIEWER = """---
name: reviewer
description: Reviews code for bugs.
tools: Read, Grep
---
You are REVIEWER-7. Report bugs; never edit.
"""


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    (proj / ".memfun" / "agents").mkdir(parents=True)
    (proj / ".memfun" / "agents" / "reviewer.md").write_text(REVIEWER, encoding="utf-8")
    (proj / "calc.py").write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    (proj / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        'api_key_env = "MEMFUN_TEST_KEY"\n[runtime]\ntier = "sqlite"\n',
        encoding="utf-8",
    )
    return proj


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_") and "API_KEY" not in k
    }
    env.update(HOME=str(project.parent / "home"), MEMFUN_TEST_KEY="test-key-value-123")
    trust_folder(project, env)  # project agents are inactive in an untrusted folder
    return subprocess.run(
        [MEMFUN, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )


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
