"""A definition runs as a runtime agent on T1 in one process: dispatch, result, trace, tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions._model import AgentDefinition
from memfun_agent.dispatch import AgentSetup, defined_agent, dispatch, queue_of
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_agent.traces import TraceStore
from memfun_runtime import RuntimeBuilder

pytestmark = pytest.mark.usefixtures("sandbox_ok")

REVIEWER = AgentDefinition(
    name="reviewer",
    description="Reviews code for bugs.",
    instructions="You are REVIEWER-7. You review code and never change files.",
    capabilities=("review",),
    read_only=True,
)


def _setup(repo: Path, lm: ScriptedLM) -> AgentSetup:
    return AgentSetup(
        workspace=repo, lm=lambda model: lm, tools=ToolBridge, agent_options={"verifier": None}
    )


async def test_a_definition_runs_as_a_runtime_agent_on_sqlite(repo: Path, tmp_path: Path) -> None:
    lm = ScriptedLM(
        [
            {
                "reasoning": "Look.",
                "code": "print(sorted(t for t in dir() if t in ('shell', 'delegate')))",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer='add subtracts', summary='no changes')"},
        ]
    )
    runtime = (
        RuntimeBuilder()
        .sqlite(tmp_path / "rt.db")
        .agent(defined_agent(REVIEWER, _setup(repo, lm)))
        .build()
    )
    async with runtime:
        live = await runtime.agents.find("review")
        result = await dispatch(runtime, "Review calc.py", agent="reviewer", timeout=120)
        task = await runtime.tasks.get(queue_of("reviewer"), result.task_id)
        trace = await TraceStore(runtime).load(result.run_id or "")

    assert [instance.name for instance in live] == ["reviewer"]
    assert result.ok, result.error
    assert result.answer == "add subtracts"
    assert result.worker == live[0].instance_id
    assert result.tokens > 0
    assert task is not None
    assert task.result == result.to_json()
    # The definition's instructions are in the system prompt, in full.
    assert "You are REVIEWER-7" in lm.prompts[0].text
    # No delegates in the definition: no delegate tool; the sandboxed shell stays.
    assert trace is not None
    assert trace.metadata["agent"] == "reviewer"
    assert trace.metadata["task_id"] == result.task_id
    assert trace.metadata["parent_run_id"] is None
    assert trace.of_kind("step")[0]["output"].strip() == "['shell']"
