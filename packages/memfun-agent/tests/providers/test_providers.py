"""Real provider path: LiteLLM-style model strings against an OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path

import dspy
import pytest

from memfun_agent import NO_KEY, PermissionPolicy, RLMAgent, build_lm
from memfun_agent.testing import COMPLETION_TOKENS, PROMPT_TOKENS, FakeOpenAI, format_fields
from memfun_agent.tools import ToolBridge
from memfun_core.config import LLMConfig, MCPConfig, MCPServerConfig, MemfunConfig
from memfun_core.errors import ConfigError

KEY = "sk-memfun-local-test-key-0123456789"


def test_config_errors_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="no model is configured"):
        build_lm(LLMConfig())
    monkeypatch.delenv("MEMFUN_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="MEMFUN_UNSET_KEY is not set") as info:
        build_lm(LLMConfig(model="anthropic/claude-sonnet-4-5", api_key_env="MEMFUN_UNSET_KEY"))
    assert "export MEMFUN_UNSET_KEY" in str(info.value)


def test_sub_model_falls_back_to_model() -> None:
    config = LLMConfig(
        model="openai/big", sub_model="openai/small", api_base="http://127.0.0.1:9/v1"
    )
    assert build_lm(config, sub=True).model == "openai/small"
    assert build_lm(LLMConfig(model="openai/big"), sub=True).model == "openai/big"


@pytest.mark.usefixtures("sandbox_ok")
async def test_agent_runs_over_http_with_retry_and_token_accounting(
    fake_openai: FakeOpenAI, repo: Path, bridge: ToolBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_TEST_KEY", KEY)
    fake_openai.rate_limit_first = 1
    fake_openai.replies = [
        format_fields({"reasoning": "Look.", "code": "print(open('calc.py').read()[:20])"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='read it', summary='none')"}),
    ]
    config = LLMConfig(
        model="openai/local-model", api_base=fake_openai.base, api_key_env="MEMFUN_TEST_KEY"
    )
    lm = build_lm(config, num_retries=2)
    agent = RLMAgent(repo, lm=lm, bridge=bridge, verifier=None, secret_names=["MEMFUN_TEST_KEY"])
    result = await agent.run("read calc.py")

    assert result.outcome == "completed", result.error
    assert result.answer == "read it"
    assert "def add(a, b)" in result.steps[0].output
    assert len(fake_openai.requests) == 3  # one 429, then two successes
    assert all(path.endswith("/chat/completions") for path in fake_openai.paths)
    assert fake_openai.requests[0]["model"] == "local-model"
    assert fake_openai.headers[1]["authorization"] == f"Bearer {KEY}"
    assert result.usage.lm_calls == 2
    assert result.usage.input_tokens == 2 * PROMPT_TOKENS
    assert result.usage.output_tokens == 2 * COMPLETION_TOKENS
    assert KEY not in str(result.trace.to_json())


async def test_streamed_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.replies = [format_fields({"answer": "streamed answer"})]
    lm = build_lm(LLMConfig(model="openai/local-model", api_base=fake_openai.base), num_retries=0)
    program = dspy.streamify(dspy.Predict("question -> answer"))
    final = None
    with dspy.context(lm=lm):
        async for item in program(question="stream please"):  # pyright: ignore[reportCallIssue]
            if isinstance(item, dspy.Prediction):
                final = item
    assert final is not None
    assert final.answer == "streamed answer"
    assert fake_openai.requests[0]["stream"] is True
    usage = lm.history[-1]["usage"]
    assert usage


@pytest.mark.usefixtures("sandbox_ok")
async def test_agent_from_config_bridges_mcp_servers_and_the_model(
    fake_openai: FakeOpenAI, repo: Path, mcp_server_script: Path
) -> None:
    config = MemfunConfig(
        llm=LLMConfig(model="openai/local-model", api_base=fake_openai.base),
        mcp=MCPConfig(
            servers={
                "calc": MCPServerConfig(command=sys.executable, args=(str(mcp_server_script),))
            }
        ),
        project_root=str(repo),
    )
    fake_openai.replies = [
        format_fields({"reasoning": "Use the server.", "code": "print(calc_add(2, 3))"}),
        format_fields({"reasoning": "Done.", "code": "SUBMIT(answer='5', summary='none')"}),
    ]
    policy = PermissionPolicy(rules={"calc_*": "allow"})
    agent = RLMAgent.from_config(config, policy=policy)
    try:
        assert {"calc_add", "fs_read", "web_fetch", "shell", "verify"} <= set(agent.bridge.names)
        result = await agent.run("add 2 and 3 with the calc server")
    finally:
        agent.close()
    assert result.outcome == "completed", result.error
    assert result.steps[0].output.strip() == "5"
    assert fake_openai.headers[0]["authorization"] == f"Bearer {NO_KEY}"
    calls = result.trace.of_kind("tool_call")
    assert [c["source"] for c in calls if c["tool"] == "calc_add"] == ["mcp:calc"]
