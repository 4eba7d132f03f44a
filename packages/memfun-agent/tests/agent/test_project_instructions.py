"""Every run reads the project's AGENTS.md (else CLAUDE.md) into an input the model sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_ECHO = {
    "reasoning": "Read the project's rules.",
    "code": "print(project_instructions)",
}
_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='no changes')"}


def _project(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("Root rule: run tests with `pytest -q` (ROOT-RULE-31).\n")
    (repo / "pkg" / "inner").mkdir(parents=True)
    (repo / "pkg" / "inner" / "mod.py").write_text("X = 1\n")
    # No AGENTS.md in pkg/: its CLAUDE.md is read instead.
    (repo / "pkg" / "CLAUDE.md").write_text("Package rule: no global state (PKG-RULE-77).\n")
    (repo / "pkg" / "inner" / "AGENTS.md").write_text("Inner rule: keep X at 1 (INNER-12).\n")
    (repo / "elsewhere").mkdir()
    (repo / "elsewhere" / "AGENTS.md").write_text("Unrelated rule (ELSEWHERE-5).\n")


async def test_the_model_sees_the_project_instructions_nearest_first(
    repo: Path, bridge: ToolBridge
) -> None:
    _project(repo)
    lm = ScriptedLM([_ECHO, _DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None)
    result = await agent.run("Change pkg/inner/mod.py so that X is 2.")

    assert result.outcome == "completed", result.error
    # The first prompt shows the input's text (a short file is previewed in full).
    first = lm.prompts[0].text
    assert "project_instructions" in first
    assert "ROOT-RULE-31" in first
    # In the REPL variable: the file of each folder from the named file up to the root,
    # nearest first; a folder without AGENTS.md gives its CLAUDE.md; other folders nothing.
    shown = result.steps[0].output
    assert shown.index("INNER-12") < shown.index("PKG-RULE-77") < shown.index("ROOT-RULE-31")
    assert "ELSEWHERE-5" not in shown
    assert result.trace.of_kind("project_instructions")[0]["bytes"] >= len(shown.strip())


async def test_the_byte_budget_cuts_the_instructions(repo: Path, bridge: ToolBridge) -> None:
    (repo / "AGENTS.md").write_text("FIRST-LINE\n" + "filler line of the rules\n" * 400)
    lm = ScriptedLM([_ECHO, _DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, project_instructions=1024)
    result = await agent.run("Look around.")

    shown = result.steps[0].output
    assert "FIRST-LINE" in shown
    assert "[truncated: AGENTS.md has" in shown
    assert len(shown.encode()) <= 1024 + 1  # print() adds a newline


async def test_turned_off_the_model_sees_none(repo: Path, bridge: ToolBridge) -> None:
    (repo / "AGENTS.md").write_text("Root rule (ROOT-RULE-31).\n")
    lm = ScriptedLM([_ECHO, _DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, project_instructions=None)
    result = await agent.run("Look around.")

    assert result.outcome == "completed", result.error
    assert all("ROOT-RULE-31" not in prompt.text for prompt in lm.prompts)
    assert result.steps[0].output.strip() == ""
