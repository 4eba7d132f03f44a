"""Delegation on T1 in one process: cost and trace links, cycles, depth, timeouts, budgets."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from memfun_agent import Pricing
from memfun_agent.definitions._model import AgentBudgets, AgentDefinition
from memfun_agent.dispatch import AgentSetup, defined_agent, dispatch
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_agent.traces import RunTrace, TraceStore
from memfun_runtime import Runtime, RuntimeBuilder

pytestmark = pytest.mark.usefixtures("sandbox_ok")

LEAD = AgentDefinition(
    name="lead", description="Splits work.", model="scripted/lead", delegates=("helper",)
)
HELPER = AgentDefinition(
    name="helper",
    description="Answers sub-questions.",
    model="scripted/helper",
    capabilities=("counting",),
    delegates=("lead",),
)
PRICING = Pricing(input_usd_per_mtok=1000.0, output_usd_per_mtok=1000.0)


def _runtime(
    tmp_path: Path,
    repo: Path,
    lms: Mapping[str, ScriptedLM],
    *definitions: AgentDefinition,
    **setup: Any,
) -> Runtime:
    options = AgentSetup(
        workspace=repo,
        lm=lambda model: lms[model or ""],
        tools=ToolBridge,
        agent_options={"verifier": None, "pricing": PRICING},
        **setup,
    )
    builder = RuntimeBuilder().sqlite(tmp_path / "rt.db")
    for definition in definitions:
        builder.agent(defined_agent(definition, options))
    return builder.build()


async def _trace(runtime: Runtime, run_id: str | None) -> RunTrace:
    trace = await TraceStore(runtime).load(run_id or "")
    assert trace is not None, run_id
    return trace


def _own_cost(trace: RunTrace) -> float:
    return sum(float(r["cost_usd"] or 0.0) for r in trace.of_kind("lm_call"))  # type: ignore[arg-type]


async def test_the_child_cost_counts_in_the_parent_and_the_traces_are_linked(
    repo: Path, tmp_path: Path
) -> None:
    lead = ScriptedLM(
        [
            {
                "reasoning": "Ask the helper.",
                "code": "r = delegate('helper', 'How many lines?', context='a\\nb')\n"
                "print(r['outcome'], r['answer'])",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer=r['answer'], summary='delegated')"},
        ]
    )
    helper = ScriptedLM(
        [
            {"reasoning": "Count.", "code": "print(len(context.splitlines()))"},
            {"reasoning": "Done.", "code": "SUBMIT(answer='2 lines', summary='no changes')"},
        ]
    )
    lms = {"scripted/lead": lead, "scripted/helper": helper}
    runtime = _runtime(tmp_path, repo, lms, LEAD, HELPER)
    async with runtime:
        result = await dispatch(runtime, "Count the lines", agent="lead", timeout=120)
        parent = await _trace(runtime, result.run_id)
        link = parent.of_kind("delegation")[0]
        child = await _trace(runtime, str(link["child_run_id"]))

    assert result.ok, result.error
    assert result.answer == "2 lines"
    assert parent.of_kind("step")[0]["output"].strip() == "completed 2 lines"  # type: ignore[union-attr]
    # The trace link goes both ways.
    assert child.metadata["parent_run_id"] == result.run_id
    assert child.metadata["parent_agent"] == "lead"
    assert child.metadata["depth"] == 1
    assert link["outcome"] == "completed"
    # The child's spending is in the parent's total: its own calls plus the child's.
    child_cost = float(child.usage["cost_usd"])  # type: ignore[arg-type]
    assert child_cost > 0
    assert link["cost_usd"] == pytest.approx(child_cost)
    assert result.cost_usd == pytest.approx(_own_cost(parent) + child_cost)
    assert result.tokens == (
        sum(int(r["input_tokens"]) + int(r["output_tokens"]) for r in parent.of_kind("lm_call"))  # type: ignore[arg-type]
        + int(child.usage["tokens"])  # type: ignore[arg-type]
    )


async def test_a_delegation_cycle_is_refused_with_the_cycle_named(
    repo: Path, tmp_path: Path
) -> None:
    lead = ScriptedLM(
        [
            {"reasoning": "Ask.", "code": "r = delegate('helper', 'Ask the lead back')"},
            {"reasoning": "Done.", "code": "SUBMIT(answer=r['answer'], summary='none')"},
        ]
    )
    helper = ScriptedLM(
        [
            {
                "reasoning": "A hostile model tries to bounce the task back.",
                "code": "try:\n    delegate('lead', 'loop forever')\n"
                "except Exception as exc:\n    message = str(exc)\nprint(message)",
            },
            {"reasoning": "Report.", "code": "SUBMIT(answer=message, summary='none')"},
        ]
    )
    runtime = _runtime(
        tmp_path, repo, {"scripted/lead": lead, "scripted/helper": helper}, LEAD, HELPER
    )
    async with runtime:
        result = await dispatch(runtime, "Start", agent="lead", timeout=120)

    assert result.ok, result.error
    assert "delegation cycle refused: lead -> helper -> lead" in result.answer
    assert lead.remaining == 0  # the lead ran once: the cycle never reached its queue


async def test_depth_and_permission_limits_refuse_before_anything_is_enqueued(
    repo: Path, tmp_path: Path
) -> None:
    helper = ScriptedLM(
        [
            {
                "reasoning": "Try an agent I may not use, then one too deep.",
                "code": "out = []\nfor name in ('stranger', 'lead'):\n    try:\n"
                "        delegate(name, 'x')\n    except Exception as exc:\n"
                "        out.append(str(exc))\nprint(out)",
            },
            {"reasoning": "Report.", "code": "SUBMIT(answer=' | '.join(out), summary='none')"},
        ]
    )
    runtime = _runtime(tmp_path, repo, {"scripted/helper": helper}, HELPER, max_depth=0)
    async with runtime:
        result = await dispatch(runtime, "Start", agent="helper", timeout=120)

    assert result.ok, result.error
    refused_stranger, refused_deep = result.answer.split(" | ")
    assert "may not delegate to 'stranger'" in refused_stranger
    assert "delegation depth limit reached" in refused_deep
    assert "max_delegation_depth = 0" in refused_deep


async def test_a_timeout_cancels_the_child_and_both_traces_say_why(
    repo: Path, tmp_path: Path
) -> None:
    lead = ScriptedLM(
        [
            {
                "reasoning": "Ask the slow helper.",
                "code": "r = delegate('helper', 'Think for a long time')\nprint(r['outcome'])",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer=r['outcome'], summary=str(r['error']))"},
        ]
    )

    def slow(prompt: str) -> dict[str, str]:
        del prompt
        time.sleep(3)  # the child's model is still thinking when the parent gives up
        return {"reasoning": "Still thinking.", "code": "print('never runs')"}

    helper = ScriptedLM([slow, {"reasoning": "x", "code": "SUBMIT(answer='late', summary='')"}])
    runtime = _runtime(
        tmp_path,
        repo,
        {"scripted/lead": lead, "scripted/helper": helper},
        LEAD,
        HELPER,
        delegate_timeout=1.0,
    )
    async with runtime:
        result = await dispatch(runtime, "Start", agent="lead", timeout=120)
        parent = await _trace(runtime, result.run_id)
        link = parent.of_kind("delegation")[0]
        child = await _trace(runtime, str(link["child_run_id"]))

    assert result.ok, result.error
    assert result.answer == "timeout"
    assert link["outcome"] == "timeout"
    assert "the parent waited 1 s" in str(link["error"])
    # The child stopped before its next step, and its trace says why.
    assert child.outcome == "cancelled"
    assert child.of_kind("cancel")[0]["reason"] == "timeout"
    assert child.of_kind("step") == []
    assert helper.remaining == 1


async def test_a_parent_over_budget_because_of_its_child_stops(repo: Path, tmp_path: Path) -> None:
    lead = ScriptedLM(
        [
            {"reasoning": "Ask.", "code": "r = delegate('helper', 'Expensive question')"},
            {"reasoning": "Done.", "code": "SUBMIT(answer='should not get here', summary='')"},
        ]
    )
    helper = ScriptedLM([{"reasoning": "Done.", "code": "SUBMIT(answer='42', summary='none')"}])
    # At this price the lead's first call costs about $2 and the child about as much:
    # the lead alone stays under $3, with its child it is over.
    lead_def = AgentDefinition(
        name="lead",
        description="Splits work.",
        model="scripted/lead",
        delegates=("helper",),
        budgets=AgentBudgets(max_cost_usd=3.0),
    )
    runtime = _runtime(
        tmp_path, repo, {"scripted/lead": lead, "scripted/helper": helper}, lead_def, HELPER
    )
    async with runtime:
        result = await dispatch(runtime, "Start", agent="lead", timeout=120)
        parent = await _trace(runtime, result.run_id)

    own = _own_cost(parent)
    child_cost = float(parent.of_kind("delegation")[0]["cost_usd"])  # type: ignore[arg-type]
    assert own < 3.0 < own + child_cost
    assert result.outcome == "max_cost"
    assert result.cost_usd == pytest.approx(own + child_cost)
    assert lead.remaining == 1  # stopped after the delegating step
