"""`[security]` reaches the permission policy of `memfun ask` (a scripted model, the real run)."""

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


def _ask(project: Path, home: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), MEMFUN_TEST_KEY="k-123")
    done = subprocess.run(
        [MEMFUN, "ask", "what is in private/notes.txt?", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_project_deny_reads_reach_the_agent(tmp_path: Path, model: FakeOpenAI) -> None:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "proj"
    (project / "private").mkdir(parents=True)
    (project / "private" / "notes.txt").write_text("launch code 4242", encoding="utf-8")
    (project / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        'api_key_env = "MEMFUN_TEST_KEY"\n[runtime]\ntier = "memory"\n'
        '[security]\ndeny_reads = ["private/**"]\n',
        encoding="utf-8",
    )
    model.replies = [
        format_fields({
            "reasoning": "Read it.",
            "code": "try:\n    print(fs_read('private/notes.txt'))\n"
            "except Exception as exc:\n    print('REFUSED', exc)",
        }),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='refused', summary='x')"}),
    ]
    result = _ask(project, home)
    assert result["outcome"] == "completed"
    second_prompt = json.dumps(model.requests[1])
    assert "REFUSED" in second_prompt
    assert "launch code 4242" not in second_prompt
