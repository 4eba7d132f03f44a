"""Malformed model replies are fed back and recorded, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge

pytestmark = pytest.mark.usefixtures("sandbox_ok")


async def test_every_kind_of_bad_reply_is_survived(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM(
        [
            "I will just chat instead of following the format.",
            '{"reasoning": "json", "code": ',
            {"reasoning": "Forgot the code field."},
            {"reasoning": "Bad SUBMIT.", "code": "SUBMIT(answer='only one field')"},
            {"reasoning": "Empty code.", "code": ""},
            {"reasoning": "Not Python.", "code": "```bash\nls\n```"},
            {"reasoning": "Right.", "code": "SUBMIT(answer='ok', summary='none')"},
        ]
    )
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, max_malformed=5)
    result = await agent.run("survive")

    assert result.outcome == "completed", result.error
    assert result.answer == "ok"
    malformed = result.trace.of_kind("malformed_reply")
    assert len(malformed) == 3
    assert "chat instead" in str(malformed[0]["reply"])
    outputs = [step.output + (step.error or "") for step in result.steps]
    assert "could not be parsed" in outputs[0]
    assert "SUBMIT needs exactly these fields: answer, summary" in outputs[3]
    assert "Expected Python code" in lm.prompts[6].text
    assert "could not be parsed" in lm.prompts[1].text  # the model is told


async def test_too_many_bad_replies_stop_the_run_cleanly(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM(["garbage"], repeat_last=True)
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, max_malformed=3)
    result = await agent.run("fail")
    assert result.outcome == "malformed_replies"
    assert "3 model replies in a row" in (result.error or "")
    assert len(result.trace.of_kind("malformed_reply")) == 3
    assert len(lm.prompts) == 3


async def test_a_model_failure_is_a_result_not_a_traceback(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM([{"reasoning": "One step.", "code": "print(1)"}])  # then it runs out
    result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("x")
    assert result.outcome == "model_error"
    assert "no reply left" in (result.error or "")
    assert len(result.steps) == 1
