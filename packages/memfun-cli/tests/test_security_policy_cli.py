"""`[security]` reaches the permission policy of `memfun ask` (a scripted model, the real run)."""

from __future__ import annotations

import json
from pathlib import Path

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import memfun, new_project


def _ask(project: Path) -> dict[str, object]:
    done = memfun(project, "ask", "what is in private/notes.txt?", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_project_deny_reads_reach_the_agent(tmp_path: Path, model: FakeOpenAI) -> None:
    project = new_project(
        tmp_path,
        model.base,
        files={"private/notes.txt": "launch code 4242"},
        max_iterations=None,
        extra='[security]\ndeny_reads = ["private/**"]\n',
    )
    model.replies = [
        format_fields(
            {
                "reasoning": "Read it.",
                "code": "try:\n    print(fs_read('private/notes.txt'))\n"
                "except Exception as exc:\n    print('REFUSED', exc)",
            }
        ),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='refused', summary='x')"}),
    ]
    result = _ask(project)
    assert result["outcome"] == "completed"
    second_prompt = json.dumps(model.requests[1])
    assert "REFUSED" in second_prompt
    assert "launch code 4242" not in second_prompt
