"""The task commands end to end: a real subprocess, the real agent and sandbox, and a fake
OpenAI-compatible server on 127.0.0.1 standing in for the model (only the LLM is scripted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import CALC, memfun, write_config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """calc.py and no memfun.toml yet: a test configures the model with ``write_config``."""
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "calc.py").write_text(CALC, encoding="utf-8")
    return proj


def test_without_a_model_it_says_how_to_configure_one(project: Path) -> None:
    result = memfun(project, "ask", "what does calc.py do?")
    assert result.returncode == 2
    assert "no model is configured" in result.stderr
    assert "memfun init" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_runs_the_agent_and_prints_json(project: Path, model: FakeOpenAI) -> None:
    write_config(project, model.base)
    model.replies = [
        format_fields({"reasoning": "Read the file.", "code": "print(len(task))"}),
        format_fields(
            {
                "reasoning": "Done.",
                "code": "SUBMIT(answer='add() subtracts: a bug.', summary='read calc.py')",
            }
        ),
    ]
    result = memfun(project, "ask", "what does calc.py do?", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["outcome"] == "completed"
    assert data["answer"] == "add() subtracts: a bug."
    assert data["diff"] == ""
    assert data["usage"]["lm_calls"] == 2
    prompt = json.dumps(model.requests[0])
    assert "what does calc.py do?" in prompt
    assert "test-key-value-123" in model.headers[0].get(
        "authorization", ""
    )  # the key from the NAMED variable


def test_ask_shows_live_progress_with_tokens_and_cost_on_stderr(
    project: Path, model: FakeOpenAI
) -> None:
    write_config(project, model.base)
    model.replies = [
        format_fields({"reasoning": "Read the file first.", "code": "print(fs_read('calc.py'))"}),
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer='it subtracts', summary='read it')"}
        ),
    ]
    result = memfun(project, "ask", "what does calc.py do?")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    step = next(line for line in lines if line.startswith("· step 1"))
    assert "Read the file first." in step
    assert re.search(r"\[\d+ tokens, \$\d+\.\d{4} so far\]", step)
    assert any(line.strip().startswith("tool fs_read calc.py") for line in lines)
    assert any(line.startswith("· step 2 — Done.") for line in lines)
    assert "it subtracts" in result.stdout


def test_slash_skill_runs_with_the_skill_and_typos_suggest(
    project: Path, model: FakeOpenAI
) -> None:
    write_config(project, model.base)
    model.replies = [
        format_fields(
            {"reasoning": "Done.", "code": "SUBMIT(answer='No findings.', summary='reviewed')"}
        )
    ]
    result = memfun(project, "/review-code", "calc.py", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["answer"] == "No findings."
    assert "review" in json.dumps(model.requests[0]).lower()
    typo = memfun(project, "/reveiw-code")
    assert typo.returncode == 2
    assert "did you mean 'review-code'" in typo.stderr


def test_fix_without_a_terminal_needs_yes(project: Path, model: FakeOpenAI) -> None:
    write_config(project, model.base)
    result = memfun(project, "fix", "add subtracts")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    assert model.requests == []  # refused before any model call


def test_a_run_that_stops_early_exits_1_with_the_reason(project: Path, model: FakeOpenAI) -> None:
    write_config(project, model.base)
    # Different steps each time: the same step over and over would end as `stuck` instead.
    model.replies = [
        format_fields({"reasoning": "Look.", "code": f"print({i})"}) for i in range(10)
    ]
    result = memfun(project, "ask", "loop forever", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    # After max_iterations steps DSPy asks the model to extract an answer; this script's reply
    # cannot be parsed as one, so the run stops there, with the reason.
    assert data["outcome"] in {"max_iterations", "malformed_replies"}
    assert data["summary"]
    assert data["usage"]["iterations"] == 4


def test_runs_are_traced_in_the_configured_runtime(project: Path, model: FakeOpenAI) -> None:
    # the default tier: SQLite under .memfun/
    write_config(project, model.base, tier=None, max_iterations=None)
    model.replies = [
        format_fields({"reasoning": "Look.", "code": "print('looked')"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='traced', summary='s')"}),
    ]
    ran = memfun(project, "ask", "trace me", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]

    listed = memfun(project, "trace", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["traces"]
    assert [r["run_id"] for r in rows] == [run_id]
    assert rows[0]["outcome"] == "completed"
    assert rows[0]["task"] == "trace me"

    shown = json.loads(memfun(project, "trace", "show", run_id, "--json").stdout)
    kinds = [r["kind"] for r in shown["records"]]
    assert kinds.count("step") == 2
    assert "lm_call" in kinds
    assert "test-key-value-123" not in json.dumps(shown)  # the key never reaches a trace

    exported = project / "trace.json"
    assert memfun(project, "trace", "export", run_id, "-o", str(exported)).returncode == 0
    assert json.loads(exported.read_text(encoding="utf-8"))["schema"] == "memfun.trace/1"

    missing = memfun(project, "trace", "show", "nope")
    assert missing.returncode == 2
    assert "no trace named 'nope'" in missing.stderr
