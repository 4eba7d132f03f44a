"""The compact prompt for small local models, and the loops such models fall into.

What a 1.5B model did in the by-hand runs of docs/local-models.md is scripted here against
the real tools, sandbox and (for the configuration) a real OpenAI-compatible HTTP server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from memfun_agent import Budgets, RLMAgent, build_lm
from memfun_agent.testing import ScriptedLM, fake_openai_server, format_fields
from memfun_agent.tools import ToolBridge
from memfun_core.config import LLMConfig, MemfunConfig

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_READ = {
    "reasoning": "The repo map lists calc.py. Read it.",
    "code": "print(open('calc.py').read())",
}
_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='add', summary='no changes')"}


async def _first_prompt(repo: Path, bridge: ToolBridge, *, compact: bool) -> str:
    lm = ScriptedLM([_DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, compact=compact)
    result = await agent.run("Which function adds two numbers?")
    assert result.outcome == "completed", result.error
    return lm.prompts[0].text


async def test_the_compact_prompt_is_half_the_size_and_names_every_tool(
    repo: Path, bridge: ToolBridge
) -> None:
    full = await _first_prompt(repo, bridge, compact=False)
    compact = await _first_prompt(repo, bridge, compact=True)

    assert len(compact) < 0.6 * len(full), (len(compact), len(full))
    # DSPy's long guide and the sub-agent API, which a small model copied, are gone ...
    for text in ("Sub-agents (dspy)", "EXPLORE FIRST", "Think step-by-step"):
        assert text in full
        assert text not in compact
    # ... the essential tools keep their real signature, the others are named ...
    assert "- `fs_read(path: str, *, start_line: int = 1, end_line: int | None = None)`" in compact
    assert "- `search_text(pattern: str, *, path: str = '.'," in compact
    assert "- `git_blame(" not in compact
    more = next(line for line in compact.splitlines() if "More tools, called the same way:" in line)
    assert "git_status" in more
    assert "repomap_map" in more
    assert "fs_read" not in more
    # ... with one example turn in the reply layout, and a one-sentence reasoning.
    assert 'print(open("net/client.py").read())' in compact
    assert 'SUBMIT(answer="MAX_RETRIES = 5, in net/client.py line 12", summary="no changes")' in (
        compact
    )
    assert "One or two short sentences" in compact
    # Empty inputs are not shown as variables (they still exist in the REPL).
    assert "Variable: `skill_instructions`" in full
    assert "Variable: `skill_instructions`" not in compact
    assert "Variable: `repo_map`" in compact


async def test_a_compact_run_reads_calls_an_unlisted_tool_and_submits(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM(
        [
            _READ,
            {"reasoning": "Check the branch.", "code": "print(git_status()['branch'])"},
            {"reasoning": "No changes either way.", "code": "print(skill_instructions == '')"},
            _DONE,
        ]
    )
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, compact=True)
    result = await agent.run("Which function adds two numbers?")

    assert result.outcome == "completed", result.error
    assert result.answer == "add"
    assert "def add(a, b):" in result.steps[0].output
    assert result.steps[1].error is None
    assert result.steps[1].output.strip()
    assert result.steps[2].output.strip() == "True"  # the hidden empty input still exists
    assert "def add(a, b):" in lm.prompts[1].text


async def test_the_same_step_without_output_gets_guidance_then_ends_as_stuck(
    repo: Path, bridge: ToolBridge
) -> None:
    # What the 1.5B model did: define a function, never call it, and write it again.
    uncalled = {
        "reasoning": "Find the function that reads the file.",
        "code": "def explain_code():\n    print(open('calc.py').read())",
    }

    def reply(prompt: str) -> dict[str, str]:
        if "extract the final outputs now" in prompt:  # once stuck, DSPy's extraction
            return {"answer": "add(a, b) in calc.py", "summary": "no changes"}
        return uncalled

    lm = ScriptedLM([reply], repeat_last=True)
    agent = RLMAgent(
        repo,
        lm=lm,
        bridge=bridge,
        verifier=None,
        compact=True,
        budgets=Budgets(max_repeated_errors=3),
    )
    result = await agent.run("Which function adds two numbers?")

    assert result.outcome == "stuck"
    assert len(result.steps) == 3
    assert len(lm.prompts) == 4  # no step after the third identical one, one extraction
    assert "[memfun]" not in lm.prompts[1].text
    guidance = lm.prompts[2].text
    assert "This is the same code as in the previous 1 step(s), with the same output." in guidance
    assert "It printed nothing: call the function you defined" in guidance
    assert "1 more identical step(s) end the run" in guidance
    assert "the same step 3 steps in a row" in (result.error or "")
    assert result.trace.of_kind("stuck")[0]["in_a_row"] == 3
    # The answer the model had in front of it is extracted; the outcome stays `stuck`.
    assert "extract the final outputs now" in lm.prompts[3].text
    assert result.answer == "add(a, b) in calc.py"
    assert result.trace.outcome == "stuck"
    notes = [n["message"] for n in result.trace.of_kind("note")]
    assert "stuck: the outputs were extracted from the steps" in notes


async def test_an_extracted_answer_written_as_submit_text_is_read_as_its_values(
    repo: Path, bridge: ToolBridge
) -> None:
    # What the 1.5B model did on "What is the default port?": stuck re-reading the file, then
    # it gave the call it never ran as its answer.
    reread = {"reasoning": "Read calc.py.", "code": "print(open('calc.py').read())"}

    def reply(prompt: str) -> dict[str, str]:
        if "extract the final outputs now" in prompt:
            return {"answer": 'SUBMIT(answer="add", summary="no changes")', "summary": "none"}
        return reread

    lm = ScriptedLM([reply], repeat_last=True)
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, compact=True,
                     budgets=Budgets(max_repeated_errors=3))  # fmt: skip
    result = await agent.run("Which function adds two numbers?")

    assert result.outcome == "stuck"
    assert result.answer == "add"
    notes = [n["message"] for n in result.trace.of_kind("note")]
    assert "the extracted answer was SUBMIT(...) text: its values are used" in notes
    # The compact extraction shows the task and the model's notes, not the REPL history with
    # the guidance's SUBMIT template the model copied.
    extraction = lm.prompts[-1].text
    assert "Step 1: Read calc.py." in extraction
    assert "It printed: def add(a, b):" in extraction
    assert "[memfun]" not in extraction
    assert "<your answer>" not in extraction


async def test_a_placeholder_copied_from_the_guidance_is_not_taken_as_the_answer(
    repo: Path, bridge: ToolBridge
) -> None:
    reread = {"reasoning": "add is the function. Read calc.py.", "code": "print(1)"}

    def reply(prompt: str) -> dict[str, str]:
        if "extract the final outputs now" in prompt:
            return {"answer": 'SUBMIT(answer="<your answer>", summary="no changes")',
                    "summary": "none"}  # fmt: skip
        return reread

    lm = ScriptedLM([reply], repeat_last=True)
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, compact=True,
                     budgets=Budgets(max_repeated_errors=3))  # fmt: skip
    result = await agent.run("Which function adds two numbers?")
    assert result.outcome == "stuck"
    assert "<your answer>" in (result.answer or "")  # left as given: never dressed up as a value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'SUBMIT(answer="8321", summary="no changes")',
            {"answer": "8321", "summary": "no changes"},
        ),
        ("```python\nSUBMIT('serve')\n```", {"answer": "serve"}),
        ("`SUBMIT(answer=8321)`", {"answer": 8321}),
        ("SUBMIT(answer=open('/etc/passwd').read())", None),  # never run: literals only
        ("SUBMIT(answer='a', answer='b')", None),
        ("SUBMIT(other='x')", None),
        ("SUBMIT('a', 'b', 'c')", None),
        ('SUBMIT(answer="<your answer>", summary="no changes")', None),
        ("SUBMIT(answer=...)", None),
        ("print(1); SUBMIT(answer='x')", None),
        ("The answer is 8321", None),
        ("SUBMIT(answer='unclosed", None),
    ],
)
def test_submit_text_is_read_only_as_one_literal_call(
    text: str, expected: dict[str, object] | None
) -> None:
    from memfun_agent._submit_text import submitted_values

    assert submitted_values(text, ["answer", "summary"]) == expected


async def test_a_different_step_resets_the_repeat_count(repo: Path, bridge: ToolBridge) -> None:
    same = {"reasoning": "Look.", "code": "print(1)"}
    lm = ScriptedLM([same, same, {"reasoning": "Other.", "code": "print(2)"}, same, _DONE])
    agent = RLMAgent(
        repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_repeated_errors=3)
    )
    result = await agent.run("x")

    assert result.outcome == "completed", result.error
    assert [g["in_a_row"] for g in result.trace.of_kind("guidance")] == [2]
    assert "This is the same code as in the previous 1 step(s)" in lm.prompts[2].text
    assert result.steps[3].output.strip() == "1"  # after another step, no guidance again
    # A step that printed something and is repeated: the model is shown how to end.
    assert "You have read this output already: if it answers the task" in lm.prompts[2].text
    assert 'SUBMIT(answer="<your answer>", summary="no changes")' in lm.prompts[2].text


def _system_prompt(request: dict[str, Any]) -> str:
    messages: list[dict[str, Any]] = request["messages"]
    return json.dumps([m["content"] for m in messages if m["role"] == "system"])


@pytest.mark.parametrize(
    ("prompt", "compact"),
    [
        ("auto", True),  # a server on loopback is taken for a small local model
        ("full", False),
        ("compact", True),
    ],
)
def test_the_configured_prompt_reaches_the_model(
    repo: Path, prompt: Literal["auto", "full", "compact"], compact: bool
) -> None:
    with fake_openai_server() as fake:
        fake.replies = [format_fields(_DONE)]
        config = MemfunConfig(
            llm=LLMConfig(
                model="openai/local", api_base=fake.base, context_window=16384, prompt=prompt
            ),
            project_root=str(repo),
        )
        agent = RLMAgent.from_config(config)
        try:
            assert agent.compact is compact
            result = agent.run_sync("Which function adds two numbers?")
        finally:
            agent.close()
        assert result.outcome == "completed", result.error
        system = _system_prompt(fake.requests[0])
    assert ("More tools, called the same way" in system) is compact
    assert ("Sub-agents (dspy)" in system) is not compact


def test_a_hosted_model_keeps_the_full_prompt(repo: Path) -> None:
    config = MemfunConfig(
        llm=LLMConfig(model="openai/gpt-4.1", api_base="https://api.example.com/v1"),
        project_root=str(repo),
    )
    agent = RLMAgent.from_config(config)
    try:
        assert agent.compact is False
    finally:
        agent.close()


async def test_a_step_budget_shorter_than_the_run_is_named_as_such(
    repo: Path, bridge: ToolBridge
) -> None:
    with fake_openai_server() as fake:
        fake.delay_seconds = 120.0
        fake.replies = [format_fields(_DONE)]
        lm = build_lm(LLMConfig(model="openai/local", api_base=fake.base), num_retries=0)
        budgets = Budgets(max_wall_seconds=4.0, max_step_seconds=2.0)
        agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, budgets=budgets)
        result = await agent.run("answer slowly")

    assert result.outcome == "max_wall_time"
    # The first reply was cut by the step budget (2 s), not by the run's (4 s).
    assert "longer than the step budget of 2 s" in (result.error or "")
    assert "max_step_seconds" in (result.error or "")
