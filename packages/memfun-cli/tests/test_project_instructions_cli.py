"""The project's AGENTS.md reaches the model in `memfun ask` and `memfun agent run`, as a user
runs them (a real subprocess and sandbox, a scripted OpenAI-compatible server on 127.0.0.1);
`[agents] project_instructions = false` keeps it out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import memfun, new_project

RULE = "Use tabs, never spaces (HOUSE-RULE-58)."
NESTED = "Modules here are generated (GENERATED-RULE-3)."
_REPLIES = [
    {"reasoning": "Read the rules.", "code": "print(project_instructions)"},
    {"reasoning": "Done.", "code": "SUBMIT(answer='read them', summary='no changes')"},
]


@pytest.fixture
def model(model: FakeOpenAI) -> FakeOpenAI:
    model.replies = [format_fields(reply) for reply in _REPLIES]
    return model


def _project(tmp_path: Path, model: FakeOpenAI, agents: str = "") -> Path:
    files = {
        "AGENTS.md": f"# Rules\n\n{RULE}\n",
        "gen/AGENTS.md": NESTED + "\n",
        "gen/models.py": "X = 1\n",
    }
    return new_project(
        tmp_path, model.base, files=files, tier="sqlite", max_iterations=None, extra=agents
    )


def _first_prompt(model: FakeOpenAI) -> str:
    return json.dumps(model.requests[0]["messages"])


@pytest.mark.parametrize("command", [["ask"], ["agent", "run", "explorer"]])
def test_the_model_sees_agents_md_of_the_root_and_of_the_named_file(
    tmp_path: Path, model: FakeOpenAI, command: list[str]
) -> None:
    project = _project(tmp_path, model)
    result = memfun(project, *command, "What does gen/models.py define?", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "read them"
    prompt = _first_prompt(model)
    assert "project_instructions" in prompt
    assert "GENERATED-RULE-3" in prompt  # the named file's folder, nearest first
    assert prompt.index("GENERATED-RULE-3") < prompt.index("HOUSE-RULE-58")


@pytest.mark.parametrize("command", [["ask"], ["agent", "run", "explorer"]])
def test_turned_off_in_memfun_toml_the_model_sees_none(
    tmp_path: Path, model: FakeOpenAI, command: list[str]
) -> None:
    project = _project(tmp_path, model, "[agents]\nproject_instructions = false\n")
    result = memfun(project, *command, "What does gen/models.py define?", "--json")

    assert result.returncode == 0, result.stderr
    assert len(model.requests) == 2
    requests = json.dumps(model.requests)
    assert "HOUSE-RULE-58" not in requests
    assert "GENERATED-RULE-3" not in requests
