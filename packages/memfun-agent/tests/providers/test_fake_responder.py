"""The fake OpenAI-compatible server's responder: replies computed from each request's body.

A scripted list answers in order whatever is asked; a responder answers what the prompt asks
(an optimizer's proposer, a reflection model), through the real LiteLLM request path.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import dspy

from memfun_agent import build_lm
from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_core.config import LLMConfig

_QUESTION = re.compile(r"What is (\d+) squared\?")


def _square(body: dict[str, Any]) -> str:
    prompt = "\n".join(str(m.get("content")) for m in body["messages"])
    found = _QUESTION.search(prompt)
    return format_fields({"answer": str(int(found.group(1)) ** 2) if found else "no question"})


def _ask(lm: Any, question: str) -> str:
    with dspy.context(lm=lm):
        return str(dspy.Predict("question -> answer")(question=question).answer)


def test_a_responder_answers_what_each_prompt_asks_in_any_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.replies = [format_fields({"answer": "from the list"})]
    fake_openai.responder = _square
    lm = build_lm(LLMConfig(model="openai/local-model", api_base=fake_openai.base), num_retries=0)

    assert _ask(lm, "What is 12 squared?") == "144"
    assert _ask(lm, "What is 3 squared?") == "9"
    assert _ask(lm, "What is 12 squared? (again)") == "144"
    # the responder saw the body LiteLLM sent, and the list was left alone
    assert len(fake_openai.requests) == 3
    assert fake_openai.requests[1]["model"] == "local-model"
    assert fake_openai.replies == [format_fields({"answer": "from the list"})]

    streamed = dspy.streamify(dspy.Predict("question -> answer"))

    async def stream() -> str:
        final = None
        with dspy.context(lm=lm):
            async for item in streamed(question="What is 7 squared?"):  # pyright: ignore[reportCallIssue]
                if isinstance(item, dspy.Prediction):
                    final = item
        assert final is not None
        return str(final.answer)

    assert asyncio.run(stream()) == "49"


def test_without_a_responder_the_list_is_replayed_in_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.replies = [format_fields({"answer": "first"}), format_fields({"answer": "second"})]
    lm = build_lm(LLMConfig(model="openai/local-model", api_base=fake_openai.base), num_retries=0)

    assert _ask(lm, "What is 12 squared?") == "first"
    assert _ask(lm, "What is 3 squared?") == "second"
    assert fake_openai.replies == []
