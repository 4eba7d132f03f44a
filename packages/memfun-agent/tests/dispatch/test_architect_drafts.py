"""agent-architect writes drafts (`.memfun/agents/_drafts/NAME.md`), the path synthesis uses:
a broken draft is refused at write time, a valid one is written and is not an agent until
``memfun agent accept`` (memfun_optimizer.synthesis.accept_agent, tested there) moves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions import builtin_agents_dir, discover_agents, load_agent_file
from memfun_agent.dispatch import AgentSetup, defined_agent, dispatch
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import PermissionPolicy, PermissionRequest, ToolBridge, gateway_client
from memfun_agent.traces import TraceStore
from memfun_runtime import RuntimeBuilder

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_BAD = "---\nname: Doc_Writer\ndescription: Writes docs.\n---\nYou write docs.\n"
_GOOD = (
    "---\nname: doc-writer\ndescription: Writes and updates the documentation.\n"
    "tools: Read, Grep\n---\n\nYou write the documentation.\n"
)
_DRAFT = ".memfun/agents/_drafts/doc-writer.md"


async def test_the_architect_saves_only_a_valid_draft_which_is_not_an_agent(
    repo: Path, tmp_path: Path
) -> None:
    folder = builtin_agents_dir()
    assert folder is not None
    architect = load_agent_file(folder / "agent-architect.md", scope="builtin")
    assert "_drafts/NAME.md" in architect.instructions
    lm = ScriptedLM(
        [
            {
                "reasoning": "Save a broken draft (a careless model), then the fixed one.",
                "code": "try:\n"
                f"    fs_write({_DRAFT!r}, {_BAD!r})\n"
                "    print('SAVED')\n"
                "except Exception as exc:\n"
                "    print('REFUSED', exc)\n"
                f"fs_write({_DRAFT!r}, {_GOOD!r})",
            },
            {"reasoning": "Done.", "code": f"SUBMIT(answer={_DRAFT!r}, summary='draft')"},
        ]
    )

    asked: list[PermissionRequest] = []

    async def approve(request: PermissionRequest) -> bool:  # the user approves the draft
        asked.append(request)
        return True

    def tools() -> ToolBridge:
        bridge = ToolBridge(policy=PermissionPolicy(rules={"fs_*": "allow"}, ask=approve))
        bridge.add_mcp(gateway_client(repo), prefix="", source="memfun")
        return bridge

    setup = AgentSetup(
        workspace=repo, lm=lambda model: lm, tools=tools, agent_options={"verifier": None}
    )
    runtime = RuntimeBuilder().sqlite(tmp_path / "rt.db").agent(
        defined_agent(architect, setup)
    ).build()  # fmt: skip
    async with runtime:
        result = await dispatch(runtime, "An agent that writes docs.", agent=architect.name,
                                timeout=120)  # fmt: skip
        trace = await TraceStore(runtime).load(result.run_id or "")

    assert result.ok, result.error
    assert trace is not None
    step = trace.of_kind("step")[0]
    output = f"{step['output']} {step.get('error')}"
    assert "REFUSED" in output
    assert "does not validate" in output
    assert (repo / _DRAFT).read_text() == _GOOD
    # nobody is asked to approve a draft that does not validate
    assert [r.arguments.get("content") for r in asked] == [_GOOD]
    home = tmp_path / "home"
    assert "doc-writer" not in discover_agents(repo, home=home).names
