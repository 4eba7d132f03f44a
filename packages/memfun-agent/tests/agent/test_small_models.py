"""What a small or local model does wrong, and how the agent answers it.

Wrong tool calls, replies in the wrong layout, the same error again and again, prompts larger
than the window, replies slower than the budget: each is scripted here the way a small model
produces it, against the real tools, sandbox and (for the slow reply) a real HTTP server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import Budgets, RLMAgent, build_lm, model_limits
from memfun_agent.testing import ScriptedLM, fake_openai_server, format_fields
from memfun_agent.tools import ToolBridge
from memfun_core.config import LLMConfig
from memfun_core.errors import ConfigError

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='none')"}


async def test_positional_arguments_fill_only_positional_parameters(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM(
        [
            # The call a 1.5B model wrote 13 times: a glob and a folder passed positionally.
            {"reasoning": "Search.", "code": "print(search_text('config', 'toml', '.ci/'))"},
            {
                "reasoning": "By name.",
                "code": "print(len(search_text('return a', path='.')['matches']))",
            },
            _DONE,
        ]
    )
    result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("find config")

    assert result.outcome == "completed", result.error
    error = result.steps[0].error or ""
    assert "search_text takes at most 1 positional arguments (pattern); 3 were given" in error
    assert "search_text(pattern: str, *, path: str = '.', globs: list[str] | None = None" in error
    assert "3 were given" in lm.prompts[1].text  # the model sees the signature it must use
    calls = [c for c in result.trace.of_kind("tool_call") if c["tool"] == "search_text"]
    assert calls[0]["arguments"] == {"pattern": "config", "*args": ["toml", ".ci/"]}
    assert calls[0]["ok"] is False
    assert calls[1]["arguments"] == {"pattern": "return a", "path": "."}
    assert calls[1]["ok"] is True
    assert result.steps[1].output.strip() == "2"  # add and mul
    # The prompt lists every tool with its real signature, keyword-only arguments after `*`.
    assert "- `search_text(pattern: str, *, path: str = '.'," in lm.prompts[0].text
    assert "- `fs_read(path: str, *, start_line: int = 1," in lm.prompts[0].text


async def test_a_repeated_keyword_is_refused_with_the_signature(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM(
        [
            {"reasoning": "Read.", "code": "print(fs_read('calc.py', path='calc.py'))"},
            {"reasoning": "Read.", "code": "print(fs_read('calc.py', lines=3))"},
            _DONE,
        ]
    )
    result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("read")

    assert "fs_read got two values for 'path'" in (result.steps[0].error or "")
    assert "fs_read has no parameter 'lines'" in (result.steps[1].error or "")
    assert "Signature: fs_read(path: str, *, start_line: int = 1" in (result.steps[1].error or "")
    calls = [c for c in result.trace.of_kind("tool_call") if c["tool"] == "fs_read"]
    assert calls[0]["arguments"] == {"path": "calc.py", "**repeated": {"path": "calc.py"}}
    assert calls[1]["arguments"] == {"path": "calc.py", "lines": 3}


async def test_the_retry_after_a_malformed_reply_names_the_fields(
    repo: Path, bridge: ToolBridge
) -> None:
    copied_history_layout = "Reasoning: look at the file\nCode:\n```python\nprint(1)\n```"
    lm = ScriptedLM([copied_history_layout, {"reasoning": "Only this."}, _DONE])
    result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("x")

    assert result.outcome == "completed", result.error
    retry = lm.prompts[1].text
    assert "Expected the fields [[ ## reasoning ## ]], [[ ## code ## ]]; found: none of them" in (
        retry
    )
    assert "You wrote `Code:`, `Reasoning:` where a marker belongs" in retry
    assert "[[ ## code ## ]]\\n```python" in retry  # the layout to copy
    second = lm.prompts[2].text
    assert "found: [[ ## reasoning ## ]]." in second
    records = result.trace.of_kind("malformed_reply")
    assert records[1]["expected"] == ["reasoning", "code"]
    assert records[1]["found"] == ["reasoning"]


async def test_the_same_error_again_and_again_ends_the_run_as_stuck(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM(
        [
            {
                "reasoning": "Raise the project's error.",
                "code": "raise UserError('the config is missing')",
            }
        ],
        repeat_last=True,
    )
    agent = RLMAgent(
        repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_repeated_errors=3)
    )
    result = await agent.run("find the config")

    assert result.outcome == "stuck"
    assert len(result.steps) == 3
    assert len(lm.prompts) == 4  # no step after the third identical error, one extraction
    assert "extract the final outputs now" in lm.prompts[3].text
    assert result.answer == ""  # the scripted reply has no answer field: nothing extracted
    assert "no answer extracted after stuck" in result.trace.of_kind("note")[-1]["message"]
    assert "[memfun]" not in lm.prompts[1].text  # the first error is just an error
    guidance = lm.prompts[2].text
    assert "This is the same error as in the previous 1 step(s)" in guidance
    assert "NameError: name 'UserError' is not defined" in guidance
    assert "change the approach" in guidance
    assert "1 more identical error(s) end the run" in guidance
    assert "the same error 3 steps in a row" in (result.error or "")
    assert "NameError" in result.summary
    assert result.trace.outcome == "stuck"
    assert result.trace.of_kind("stuck")[0]["in_a_row"] == 3


async def test_a_different_error_or_a_good_step_resets_the_count(
    repo: Path, bridge: ToolBridge
) -> None:
    failing = {"reasoning": "Again.", "code": "print(undefined_name)"}
    lm = ScriptedLM([failing, {"reasoning": "Fine.", "code": "print(1)"}, failing, failing, _DONE])
    agent = RLMAgent(
        repo, lm=lm, bridge=bridge, verifier=None, budgets=Budgets(max_repeated_errors=3)
    )
    result = await agent.run("x")
    assert result.outcome == "completed", result.error
    assert "[memfun] This is the same error" not in lm.prompts[2].text
    assert "[memfun] This is the same error" in lm.prompts[4].text


async def test_a_prompt_larger_than_the_window_is_refused_before_any_call(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM([_DONE])
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, context_window=1500)
    with pytest.raises(ConfigError) as info:
        await agent.run("what does calc.py do?")
    message = str(info.value)
    assert "more than the model's context window of 1500 tokens" in message
    assert "llm.context_window" in message
    assert "--n_ctx" in message
    assert "-c 16384" in message
    assert lm.prompts == []  # refused before the first model call


async def test_the_window_the_server_reports_is_used(repo: Path, bridge: ToolBridge) -> None:
    with fake_openai_server() as fake:
        fake.props = {"default_generation_settings": {"n_ctx": 2048}}
        config = LLMConfig(model="openai/local", api_base=fake.base)
        limits = model_limits(config)
        assert (limits.local, limits.context_window) == (True, 2048)
        assert limits.source.endswith("/props")
        assert limits.reply_tokens == 512  # a quarter of the window at most
        assert "/props" in fake.paths
        lm = build_lm(config, max_tokens=limits.reply_tokens)
        agent = RLMAgent(
            repo, lm=lm, bridge=bridge, verifier=None, context_window=limits.context_window
        )
        with pytest.raises(ConfigError, match="context window of 2048 tokens"):
            await agent.run("what does calc.py do?")
        assert fake.requests == []  # no completion was asked for


def test_limits_of_ollama_unknown_servers_and_hosted_models() -> None:
    with fake_openai_server() as fake:
        fake.show = {"parameters": "temperature 0.2\nnum_ctx 8192"}
        root = fake.base.removesuffix("/v1")
        ollama = model_limits(LLMConfig(model="ollama/qwen2.5-coder", api_base=root))
        assert ollama.context_window == 8192
        assert fake.requests[-1] == {"model": "qwen2.5-coder"}
        # llama-cpp-python's server has no /props: the window stays unknown.
        unknown = model_limits(LLMConfig(model="openai/local", api_base=fake.base))
        assert (unknown.local, unknown.context_window, unknown.reply_tokens) == (True, None, 1024)
        configured = model_limits(
            LLMConfig(model="openai/local", api_base=fake.base, context_window=4096)
        )
        assert (configured.context_window, configured.source) == (4096, "[llm] context_window")
        asked = len(fake.paths)
    hosted = model_limits(LLMConfig(model="anthropic/claude-sonnet-4-5"))
    assert (hosted.local, hosted.context_window, hosted.reply_tokens) == (False, None, 4096)
    assert asked == 2  # /api/show, /props; the configured window was not asked for
    remote = LLMConfig(model="openai/x", api_base="https://api.example.com/v1")
    assert not model_limits(remote).local
    lan = LLMConfig(model="openai/x", api_base="http://93.184.216.34:9/v1", context_window=8192)
    assert not model_limits(lan).local  # a public address
    private = LLMConfig(model="openai/x", api_base="http://192.168.1.20:8080/v1", context_window=8)
    assert model_limits(private).local  # the window is configured: nothing is asked
    assert (
        build_lm(LLMConfig(model="openai/x", api_base="http://localhost:1/v1")).kwargs["max_tokens"]
        == 1024
    )
    assert (
        build_lm(
            LLMConfig(model="openai/x", api_base="http://localhost:1/v1", max_reply_tokens=300)
        ).kwargs["max_tokens"]
        == 300
    )


def test_local_models_get_a_step_budget() -> None:
    from memfun_core.config import BudgetConfig

    assert Budgets.from_config(BudgetConfig()).max_step_seconds is None
    assert Budgets.from_config(BudgetConfig(), local=True).max_step_seconds == 300.0
    explicit = BudgetConfig(max_step_seconds=50.0)
    assert Budgets.from_config(explicit, local=True).max_step_seconds == 50.0


@pytest.mark.parametrize(
    ("budgets", "expected"),
    [
        (Budgets(max_wall_seconds=3.0), "the run's wall-clock budget ran out during a model call"),
        (Budgets(max_step_seconds=2.0), "longer than the step budget of 2 s"),
    ],
)
async def test_a_wall_budget_ends_a_slow_model_reply(
    repo: Path, bridge: ToolBridge, budgets: Budgets, expected: str
) -> None:
    with fake_openai_server() as fake:
        fake.delay_seconds = 120.0  # a CPU model writing a long reply
        fake.replies = [format_fields(_DONE)]
        lm = build_lm(LLMConfig(model="openai/local", api_base=fake.base), num_retries=0)
        agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, budgets=budgets)
        result = await agent.run("answer slowly")

        assert result.outcome == "max_wall_time"
        assert expected in (result.error or "")
        assert result.trace.outcome == "max_wall_time"
        assert fake.replies  # the reply was never delivered


def test_a_server_without_the_window_route_is_asked_once_per_process() -> None:
    with fake_openai_server() as fake:
        config = LLMConfig(model="openai/local", api_base=fake.base)
        first = model_limits(config)
        second = model_limits(config)
        assert first == second
        assert (first.context_window, first.source) == (None, "unknown")
        assert fake.paths == ["/props"]  # the 404 is remembered
        # Another model on the same server is another question.
        model_limits(LLMConfig(model="openai/other", api_base=fake.base))
        assert fake.paths == ["/props", "/props"]


def test_a_server_that_reports_its_window_is_asked_each_time() -> None:
    with fake_openai_server() as fake:
        fake.props = {"n_ctx": 8192}
        config = LLMConfig(model="openai/local", api_base=fake.base)
        assert model_limits(config).context_window == 8192
        fake.props = {"n_ctx": 4096}  # restarted with another window
        assert model_limits(config).context_window == 4096
        assert fake.paths == ["/props", "/props"]
