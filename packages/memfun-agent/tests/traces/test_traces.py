"""Every run is a trace written through the runtime, readable back whole, with secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_agent.traces import SCHEMA, TRACE_TOPIC, RunTrace, TraceRecorder, TraceStore
from memfun_core.errors import CorruptDataError
from memfun_runtime import RuntimeBuilder
from memfun_runtime.testing import collect

SECRET = "sk-memfun-trace-canary-0123456789abcdef"


@pytest.mark.usefixtures("sandbox_ok")
async def test_run_trace_is_stored_published_and_redacted(
    repo: Path, bridge: ToolBridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_PROVIDER_KEY", SECRET)
    runtime = RuntimeBuilder().sqlite(tmp_path / "data").build()
    async with runtime:
        subscription = await runtime.events.subscribe(TRACE_TOPIC, "trace-readers")
        store = TraceStore(runtime)
        lm = ScriptedLM(
            [
                {"reasoning": "Look.", "code": "print(git_status())"},
                {
                    "reasoning": "Sub-call.",
                    "code": f"print(llm_query('my key is {SECRET}'))",
                },
                {"reasoning": "Done.", "code": "SUBMIT(answer='done', summary='none')"},
            ]
        )
        sub = ScriptedLM(["sub reply"])
        agent = RLMAgent(
            repo,
            lm=lm,
            sub_lm=sub,
            bridge=bridge,
            verifier=None,
            traces=store,
            secret_names=["MY_PROVIDER_KEY"],
        )
        result = await agent.run(f"check the repo (token {SECRET})")
        loaded = await store.load(result.run_id)
        listed = await store.list()
        events = await collect(subscription, 1)

    assert loaded is not None
    assert loaded == result.trace
    assert loaded.schema == SCHEMA
    assert loaded.outcome == "completed"
    assert [t.run_id for t in listed] == [result.run_id]
    assert events[0].event.payload["run_id"] == result.run_id  # type: ignore[index]
    assert events[0].event.payload["outcome"] == "completed"  # type: ignore[index]
    document = str(loaded.to_json())
    assert SECRET not in document
    assert "[REDACTED]" in loaded.task
    kinds = [record["kind"] for record in loaded.records]
    assert kinds[0] == "run_start"
    assert kinds[-1] == "run_end"
    assert kinds.count("step") == 3
    lm_calls = loaded.of_kind("lm_call")
    assert [c["role"] for c in lm_calls] == ["main", "main", "sub", "main"]
    assert all(int(c["input_tokens"]) > 0 for c in lm_calls)  # type: ignore[arg-type]
    tools = [c["tool"] for c in loaded.of_kind("tool_call")]
    assert "git_status" in tools
    assert loaded.usage["sub_lm_calls"] == 1
    assert loaded.usage["tokens"] == result.usage.tokens
    assert [r["seq"] for r in loaded.records] == list(range(len(loaded.records)))


def test_recorder_redacts_and_caps() -> None:
    recorder = TraceRecorder(secret_names=())
    record = recorder.add("note", text="key sk-ant-abcdefghijklmnopqrstuvwxyz " + "x" * 30_000)
    assert "sk-ant" not in str(record["text"])
    assert str(record["text"]).endswith("more characters]")


def test_other_documents_are_refused() -> None:
    with pytest.raises(CorruptDataError, match="not a Memfun trace"):
        RunTrace.from_json({"hello": 1})
    with pytest.raises(CorruptDataError, match="not supported"):
        RunTrace.from_json({"schema": "memfun.trace/9"})
