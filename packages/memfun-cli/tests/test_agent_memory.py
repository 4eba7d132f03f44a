"""Memory for agent runs: `memfun agent run NAME` with `[memory] enabled` is given the relevant
learnings of MEMORY.md (cited in its trace) and learns after the run, as `memfun ask` does;
`memfun eval run --agent` is not (an eval measures the agent alone). Real subprocesses,
SQLite, sandbox and tools; only the model is scripted (an OpenAI-compatible server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memfun_agent.testing import FakeOpenAI, fake_openai_server, format_fields

MEMFUN = str(Path(sys.executable).parent / "memfun")
_LOOK = {"reasoning": "Look at the notes.", "code": "print(memories)"}
_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='src/app/parse.py', summary='no changes')"}
_KNOWN = "The parser module lives in src/app/parse.py (KNOWN-4)."
_LEARNT = "Parser questions are answered from src/app/parse.py (LEARNT-8)."


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as server:
        yield server


def _project(tmp_path: Path, fake: FakeOpenAI, memory: str) -> Path:
    (tmp_path / "home").mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("A tiny project.\n", encoding="utf-8")
    (project / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{fake.base}"\n'
        f'api_key_env = "MEMFUN_TEST_KEY"\n[runtime]\ntier = "sqlite"\n{memory}',
        encoding="utf-8",
    )
    return project


def _memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MEMFUN_") and "API_KEY" not in k}  # fmt: skip
    env.pop("XDG_CONFIG_HOME", None)
    env.update(HOME=str(project.parent / "home"), MEMFUN_TEST_KEY="test-key-value-123")
    return subprocess.run(
        [MEMFUN, *args], cwd=project, env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, timeout=300,
    )  # fmt: skip


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr[-3_000:]
    return json.loads(done.stdout)


def _cited(project: Path, run_id: str) -> list[list[str]]:
    trace = _json(_memfun(project, "trace", "show", run_id, "--json"))
    return [r["ids"] for r in trace["records"] if r["kind"] == "memories"]


@pytest.mark.usefixtures("sandbox_ok")
def test_an_agent_run_recalls_memories_and_learns_after(tmp_path: Path, fake: FakeOpenAI) -> None:
    project = _project(tmp_path, fake, "[memory]\nenabled = true\n")
    known = _json(_memfun(project, "memory", "add", _KNOWN, "--json"))["learning"]["id"]
    fake.replies = [
        format_fields(_LOOK),
        format_fields(_DONE),
        format_fields({"learnings": [{"kind": "fact", "text": _LEARNT}]}),  # after the run
    ]

    result = _json(
        _memfun(project, "agent", "run", "explorer", "Where does the parser live?", "--json")
    )

    assert result["outcome"] == "completed"
    assert len(fake.requests) == 3  # two agent steps, then the extraction
    assert "KNOWN-4" in json.dumps(fake.requests[0]["messages"])  # the run was given it
    assert "KNOWN-4" in json.dumps(fake.requests[1]["messages"])  # print(memories) showed it
    assert _cited(project, result["run_id"]) == [[known]]
    memory_md = (project / ".memfun" / "MEMORY.md").read_text(encoding="utf-8")
    assert f"- [fact] {_LEARNT} <!-- id:" in memory_md  # learnt after the agent's run


@pytest.mark.usefixtures("sandbox_ok")
def test_with_memory_off_an_agent_run_neither_recalls_nor_learns(
    tmp_path: Path, fake: FakeOpenAI
) -> None:
    project = _project(tmp_path, fake, "")
    assert _memfun(project, "memory", "add", _KNOWN).returncode == 0
    before = (project / ".memfun" / "MEMORY.md").read_text(encoding="utf-8")
    fake.replies = [format_fields(_LOOK), format_fields(_DONE)]

    result = _json(_memfun(project, "agent", "run", "explorer", "Where is the parser?", "--json"))

    assert len(fake.requests) == 2  # no extraction call
    assert "KNOWN-4" not in json.dumps(fake.requests)
    assert _cited(project, result["run_id"]) == []
    assert (project / ".memfun" / "MEMORY.md").read_text(encoding="utf-8") == before
