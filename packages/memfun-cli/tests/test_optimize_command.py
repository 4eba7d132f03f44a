"""``memfun optimize list|promote|rollback`` as a user runs them, and ``memfun ask`` after each.

The compiled versions are stored the way ``memfun optimize run`` stores them (its end-to-end
test with MIPROv2 and GEPA is in memfun-optimizer's tests); the model is an OpenAI-compatible
scripted server on 127.0.0.1, so the prompt ``memfun ask`` sends is what is checked.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from memfun_agent import AgentProgram
from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_cli.testing import memfun as run_memfun
from memfun_cli.testing import new_project
from memfun_optimizer.optimize import ProgramStore

FIRST = "Answer in one line. OPTIMIZED-GUIDANCE-ONE."
SECOND = "Cite path:line for each claim. OPTIMIZED-GUIDANCE-TWO."


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    calc = "def add(a, b):\n    return a + b\n"
    proj = new_project(
        tmp_path, model.base, files={"calc.py": calc}, tier="sqlite", max_iterations=None
    )
    store = ProgramStore(proj / ".memfun")
    store.save(AgentProgram("agent", "", FIRST), {"suite": "s", "optimizer": "mipro", "score": 0.5})
    store.save(AgentProgram("agent", "", SECOND), {"suite": "s", "optimizer": "gepa", "score": 1.0})
    return proj


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memfun(project, *args, timeout=120)


def ask_prompt(project: Path, model: FakeOpenAI) -> str:
    model.requests.clear()
    model.replies = [
        format_fields({"reasoning": "known", "code": "SUBMIT(answer='add', summary='no changes')"})
    ]
    done = memfun(project, "ask", "Which function adds?", "--no-skills")
    assert done.returncode == 0, done.stderr
    return json.dumps(model.requests[0])


def test_promote_and_rollback_change_what_memfun_ask_sends(
    project: Path, model: FakeOpenAI
) -> None:
    listed = memfun(project, "optimize", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    versions = json.loads(listed.stdout)
    assert [(v["version"], v["optimizer"], v["promoted"]) for v in versions] == [
        ("1", "mipro", False),
        ("2", "gepa", False),
    ]
    assert "OPTIMIZED-GUIDANCE" not in ask_prompt(project, model)

    assert memfun(project, "optimize", "promote", "1").returncode == 0
    assert memfun(project, "optimize", "promote", "2").returncode == 0
    # a hostile clone could ship .memfun/programs too: nothing is used before `memfun trust`
    untrusted = ask_prompt(project, model)
    assert "OPTIMIZED-GUIDANCE" not in untrusted
    assert memfun(project, "trust", str(project)).returncode == 0
    prompt = ask_prompt(project, model)
    assert "OPTIMIZED-GUIDANCE-TWO" in prompt

    back = memfun(project, "optimize", "rollback")
    assert back.returncode == 0, back.stderr
    assert "version 1" in back.stdout
    assert "OPTIMIZED-GUIDANCE-ONE" in ask_prompt(project, model)
    assert "back to Memfun's own" in memfun(project, "optimize", "rollback").stdout
    assert "OPTIMIZED-GUIDANCE" not in ask_prompt(project, model)

    missing = memfun(project, "optimize", "promote", "9")
    assert missing.returncode != 0
    assert "no version of program 'agent' named '9'" in missing.stderr
