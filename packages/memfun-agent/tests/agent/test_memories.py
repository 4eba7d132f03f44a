"""A run given a memory recall puts the recalled learnings in its ``memories`` input and
cites their ids in its trace; without one, the input is empty and nothing is cited."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_ECHO = {"reasoning": "Read the notes.", "code": "print(memories)"}
_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='no changes')"}


async def test_the_model_sees_the_recalled_memories_and_the_trace_cites_them(
    repo: Path, bridge: ToolBridge
) -> None:
    asked: list[str] = []

    def recall(task: str) -> list[tuple[str, str]]:
        asked.append(task)
        return [("3f2a9c1b", "Tests run with `make test` (MEM-FACT-1)."), ("77ab01de", "Tabs.")]

    lm = ScriptedLM([_ECHO, _DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, memories=recall)
    result = await agent.run("How are the tests run?")

    assert result.outcome == "completed", result.error
    assert asked == ["How are the tests run?"]
    assert "MEM-FACT-1" in lm.prompts[0].text
    assert result.steps[0].output.strip() == (
        "[3f2a9c1b] Tests run with `make test` (MEM-FACT-1).\n[77ab01de] Tabs."
    )
    (cited,) = result.trace.of_kind("memories")
    assert cited["ids"] == ["3f2a9c1b", "77ab01de"]


async def test_without_a_recall_the_input_is_empty_and_nothing_is_cited(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM([_ECHO, _DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None)
    result = await agent.run("How are the tests run?")

    assert result.outcome == "completed", result.error
    assert result.steps[0].output.strip() == ""
    assert result.trace.of_kind("memories") == []
