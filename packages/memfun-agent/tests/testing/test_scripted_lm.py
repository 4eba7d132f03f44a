"""ScriptedLM replays replies through DSPy's real LM path and records every prompt."""

from __future__ import annotations

import dspy
import pytest

from memfun_agent.testing import ScriptedLM, ScriptExhaustedError, format_fields


def test_predict_gets_scripted_fields_and_prompt_is_recorded() -> None:
    lm = ScriptedLM([{"answer": "Paris"}])
    with dspy.context(lm=lm):
        prediction = dspy.Predict("question -> answer")(question="Capital of France?")
    assert prediction.answer == "Paris"
    assert len(lm.prompts) == 1
    assert "Capital of France?" in lm.prompts[0].text
    assert lm.prompts[0].size == len(lm.prompts[0].text) == lm.max_prompt_chars
    assert lm.remaining == 0


def test_usage_is_counted_one_token_per_four_chars() -> None:
    lm = ScriptedLM(["x" * 40])
    assert lm("hello")[0] == "x" * 40
    usage = lm.history[-1]["usage"]
    assert usage["completion_tokens"] == 10
    assert usage["prompt_tokens"] == -(-lm.prompts[0].size // 4)


def test_callable_reply_sees_the_prompt() -> None:
    lm = ScriptedLM([lambda prompt: "long" if len(prompt) > 100 else "short"])
    assert lm("a" * 200)[0] == "long"


def test_running_out_is_a_clear_error() -> None:
    lm = ScriptedLM([])
    with pytest.raises(Exception, match="no reply left") as info:
        lm("hi")
    assert isinstance(info.value.__cause__ or info.value, (ScriptExhaustedError, dspy.LMError))


def test_repeat_last() -> None:
    lm = ScriptedLM(["a", "b"], repeat_last=True)
    assert [lm("q")[0] for _ in range(4)] == ["a", "b", "b", "b"]


def test_copies_share_the_script() -> None:
    lm = ScriptedLM(["one", "two"])
    copy = lm.copy()
    assert copy("q")[0] == "one"
    assert lm("q")[0] == "two"
    assert len(lm.prompts) == 2


def test_format_fields_matches_chat_adapter() -> None:
    text = format_fields({"reasoning": "r", "n": 3})
    assert text == "[[ ## reasoning ## ]]\nr\n\n[[ ## n ## ]]\n3\n\n[[ ## completed ## ]]"


def test_rlm_runs_on_the_scripted_lm() -> None:
    lm = ScriptedLM(
        [
            {"reasoning": "look", "code": "```python\nprint(len(context))\n```"},
            {"reasoning": "ask", "code": "SUBMIT(answer=llm_query('hi'))"},
        ]
    )
    sub = ScriptedLM(["pong"])
    rlm = dspy.RLM(
        "context -> answer",
        max_iters=3,
        sub_lm=sub,  # pyright: ignore[reportArgumentType]
        interpreter_factory=dspy.LocalInterpreter,
    )
    with dspy.context(lm=lm):
        prediction = rlm(context="x" * 1000)
    assert prediction.answer == "pong"
    assert prediction.trajectory[0]["output"] == "1000"
    assert "Output (4 chars)" in lm.prompts[1].text
    assert sub.prompts[0].text.endswith("hi")
