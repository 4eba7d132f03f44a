"""``memfun orchestrate`` end to end: a real subprocess, the built-in agents run in process on
the memory tier with the real agent and sandbox, and a fake OpenAI-compatible server standing
in for the model (only the LLM is scripted)."""

from __future__ import annotations

import json
from pathlib import Path

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import memfun

PLAN = format_fields(
    {
        "reasoning": "Two independent reads, then a review of both.",
        "plan": [
            {"id": "find", "agent": "explorer", "task": "Find where add is defined"},
            {"id": "tests", "capability": "explore", "task": "Find the tests of add"},
            {"id": "review", "agent": "reviewer", "task": "Review add against its tests",
             "depends_on": ["find", "tests"]},
        ],
    }
)  # fmt: skip
SUBMIT = format_fields(
    {"reasoning": "Done.", "code": "SUBMIT(answer='add() subtracts', summary='read calc.py')"}
)
MERGE = format_fields(
    {"reasoning": "Both agree.", "answer": "add() subtracts instead of adding.",
     "complete": True, "gaps": ""}
)  # fmt: skip


def test_orchestrate_plans_runs_the_built_in_agents_and_prints_the_result_as_json(
    project: Path, model: FakeOpenAI
) -> None:
    model.replies = [PLAN, SUBMIT, SUBMIT, SUBMIT, MERGE]
    result = memfun(project, "orchestrate", "Is add() right?", "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["outcome"] == "completed"
    assert data["answer"] == "add() subtracts instead of adding."
    assert data["checked"] is True
    assert [n["id"] for n in data["plan"]] == ["find", "tests", "review"]
    assert [(n["id"], n["status"], n["ran_on"]) for n in data["nodes"]] == [
        ("find", "completed", "explorer"),
        ("tests", "completed", "explorer"),  # the capability 'explore' chose the explorer
        ("review", "completed", "reviewer"),
    ]
    assert all(len(n["attempts"]) == 1 and n["attempts"][0]["worker"] for n in data["nodes"])
    assert data["tokens"] > 0
    planner_prompt = json.dumps(model.requests[0])
    assert "explorer: Read-only codebase explorer" in planner_prompt
    assert "orchestrator:" not in planner_prompt  # it never plans work for itself
    assert "add() subtracts" in json.dumps(model.requests[-1])  # the merge read the results
    assert len(model.requests) == 5


def test_orchestrate_shows_the_dag_as_it_runs_and_says_what_failed(
    project: Path, model: FakeOpenAI
) -> None:
    unparsable = "I will not answer in fields."
    # find and tests run at once; the reviewer never runs when a dependency failed.
    model.replies = [PLAN, SUBMIT, *[unparsable] * 6, MERGE]
    result = memfun(project, "orchestrate", "Is add() right?", "--max-parallel", "1")

    assert result.returncode == 1
    err = result.stderr
    assert "plan: 3 nodes" in err
    assert "review → reviewer (after find, tests)" in err
    assert "▶ find on explorer (attempt 1)" in err
    assert "✓ find completed" in err
    assert "✗ tests malformed_replies" in err
    assert "▶ tests on capability:explore (attempt 2)" in err
    assert "- review skipped: not run: its dependency 'tests' did not complete" in err
    assert "partial:" in result.stdout
    assert "tests (failed)" in result.stdout


def test_workers_only_on_the_memory_tier_is_refused_with_a_hint(project: Path) -> None:
    result = memfun(project, "orchestrate", "anything", "--workers-only")
    assert result.returncode == 2
    assert "has no workers" in result.stderr
    assert "--in-process" in result.stderr
    assert "Traceback" not in result.stderr
