"""Agent runs are recorded for the effectiveness loop: `memfun agent run` leaves an
`agent.<name>` invocation that `memfun skill stats` shows (real subprocesses, SQLite and
sandbox; only the model is scripted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, fake_openai_server, format_fields

MEMFUN = str(Path(sys.executable).parent / "memfun")


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as fake:
        yield fake


def _memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env["HOME"] = str(project.parent / "home")
    return subprocess.run(
        [MEMFUN, *args], cwd=project, env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, timeout=180,
    )  # fmt: skip


def test_an_agent_run_is_recorded_and_shown_by_skill_stats(
    tmp_path: Path, model: FakeOpenAI
) -> None:
    (tmp_path / "home").mkdir(exist_ok=True)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        '[runtime]\ntier = "sqlite"\n',
        encoding="utf-8",
    )
    model.replies = [
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='none')"})
    ]
    ran = _memfun(project, "agent", "run", "explorer", "What is here?", "--json")
    assert ran.returncode == 0, ran.stderr

    stats = _memfun(project, "skill", "stats", "agent.explorer", "--json")
    assert stats.returncode == 0, stats.stderr
    (row,) = json.loads(stats.stdout)["skills"]
    assert (row["invocations"], row["successes"]) == (1, 1)
    assert row["recent"][0]["metadata"]["kind"] == "agent"
    assert row["recent"][0]["metadata"]["run_id"] == json.loads(ran.stdout)["run_id"]
