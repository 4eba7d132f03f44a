"""Huge contexts stay out of the prompt; budgets stop runs cleanly with partial results."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import Budgets, Pricing, RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_NEVER_DONE = {"reasoning": "Keep looking.", "code": "print('still looking')"}


@pytest.mark.slow
async def test_a_100_mb_context_is_explored_from_the_repl(repo: Path, bridge: ToolBridge) -> None:
    chunk = "lorem ipsum dolor sit amet " * 40
    body = chunk * (100_000_000 // len(chunk) + 1)
    middle = len(body) // 2
    document = body[:middle] + "The secret code is PURPLE-42." + body[middle:]
    assert len(document) > 100_000_000
    lm = ScriptedLM(
        [
            {"reasoning": "Size first.", "code": "print(len(document))"},
            {
                "reasoning": "Find it and ask the sub-model about the passage.",
                "code": "i = document.find('secret code')\npassage = document[i:i+25]\n"
                "print(llm_query('What is the code? ' + passage))",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer=passage.split()[-1], summary='none')"},
        ]
    )
    sub = ScriptedLM([lambda prompt: "PURPLE-42" if "PURPLE-42" in prompt else "unknown"])
    agent = RLMAgent(repo, lm=lm, sub_lm=sub, bridge=bridge, verifier=None)
    result = await agent.run("What is the secret code?", context={"document": document})

    assert result.outcome == "completed", result.error
    assert result.answer == "PURPLE-42."
    assert result.steps[0].output.strip() == str(len(document))
    assert "PURPLE-42" in result.steps[1].output
    assert lm.max_prompt_chars < 50_000
    assert sub.max_prompt_chars < 50_000
    assert all("PURPLE" not in prompt.text for prompt in lm.prompts[:2])
    assert result.usage.sub_lm_calls == 1
    assert result.trace.of_kind("run_start")[0]["context"] == {"document": len(document)}


async def test_max_iterations_gives_the_extracted_partial_answer(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM([_NEVER_DONE, _NEVER_DONE, {"answer": "partial", "summary": "ran out"}])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_iterations=2))
    result = await agent.run("loop")
    assert result.outcome == "max_iterations"
    assert not result.completed
    assert result.answer == "partial"
    assert result.usage.iterations == 2


async def test_token_budget_stops_after_the_step_that_spent_it(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM([_NEVER_DONE] * 5)
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_tokens=100))
    result = await agent.run("loop")
    assert result.outcome == "max_tokens"
    assert result.answer == ""
    assert len(result.steps) == 1
    assert result.steps[0].output.strip() == "still looking"
    assert "max_tokens" in (result.error or "")
    assert "Stopped early (max_tokens)" in result.summary
    assert result.trace.outcome == "max_tokens"
    assert lm.remaining == 4


async def test_dollar_budget_uses_the_configured_pricing(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM([_NEVER_DONE] * 5)
    agent = RLMAgent(
        repo,
        lm=lm,
        bridge=bridge,
        verifier=None,
        budgets=Budgets(max_cost_usd=0.015),
        pricing=Pricing(input_usd_per_mtok=3.0, output_usd_per_mtok=15.0),
    )
    result = await agent.run("loop")
    assert result.outcome == "max_cost"
    # each call: ~2,500 input tokens at $3/M = ~$0.0075; the second crosses $0.015
    assert len(result.steps) == 2
    assert result.usage.cost_usd >= 0.015
    assert result.usage.unpriced_calls == 0
    costs = [r["cost_usd"] for r in result.trace.of_kind("lm_call")]
    assert all(isinstance(c, float) and c > 0 for c in costs)


async def test_sub_llm_call_budget_stops_the_run(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM(
        [
            {
                "reasoning": "Ask twice.",
                "code": "print(llm_query('one'))\nprint(llm_query('two'))",
            },
            _NEVER_DONE,
        ]
    )
    sub = ScriptedLM(["first answer", "second answer"])
    agent = RLMAgent(
        repo, lm=lm, sub_lm=sub, bridge=bridge, verifier=None, budgets=Budgets(max_llm_calls=1)
    )
    result = await agent.run("ask")
    assert result.outcome == "max_llm_calls"
    assert "first answer" in (result.steps[0].error or "")  # printed before the failure
    assert "LLM call limit exceeded" in (result.steps[0].error or "")
    assert result.usage.sub_lm_calls == 1
    assert lm.remaining == 1


async def test_wall_time_budget_stops_a_long_step(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM([{"reasoning": "Sleep.", "code": "import time\ntime.sleep(30)"}, _NEVER_DONE])
    agent = RLMAgent(
        repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_wall_seconds=1.0)
    )
    result = await agent.run("sleep")
    assert result.outcome == "max_wall_time"
    assert len(result.steps) == 1
    assert "time limit" in (result.steps[0].error or "")
    assert "after a REPL step" in (result.error or "")
    assert lm.remaining == 1
