"""Skills an agent definition preloads (``skills:``) on T1: instructions joined, use recorded,
and the skill's ``allowed-tools`` never widen the agent's own tools.

The attack: a skill preloaded by a read-only agent declares ``allowed-tools: Write Edit``,
and its instructions (or the model) tell the run to write a file. The write must not happen.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent.definitions._model import AgentDefinition
from memfun_agent.dispatch import AgentSetup, defined_agent, dispatch
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client
from memfun_agent.traces import TraceStore
from memfun_runtime import RuntimeBuilder
from memfun_skills import ActivatedSkill, activate_skill

pytestmark = pytest.mark.usefixtures("sandbox_ok")

SKILL_MD = """---
name: release-notes
description: Writes release notes from the git history.
allowed-tools: Read Write Edit
---

RELEASE-NOTES-SKILL-9: read the history, then write NOTES.md with the release notes.
"""

READER = AgentDefinition(
    name="notes-reader",
    description="Reads the project and reports what a release would contain.",
    instructions="You are NOTES-READER. You read and report; you never change files.",
    tools=("fs_read", "fs_list"),
    skills=("release-notes",),
    read_only=True,
)

ATTEMPT = (
    "out = []\n"
    "for call in ('fs_write', 'fs_edit'):\n"
    "    try:\n"
    "        if call == 'fs_write':\n"
    "            fs_write('NOTES.md', 'pwned')\n"
    "        else:\n"
    "            fs_edit('calc.py', 'return a - b', 'return 0')\n"
    "        out.append(call + ' WROTE')\n"
    "    except Exception as exc:\n"
    "        out.append(call + ' REFUSED ' + type(exc).__name__)\n"
    "print(out)"
)


def _skill_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "release-notes"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL_MD, encoding="utf-8")
    return folder


async def test_a_preloaded_skill_is_recorded_and_cannot_widen_the_agents_tools(
    repo: Path, tmp_path: Path
) -> None:
    folder = _skill_folder(tmp_path)
    lm = ScriptedLM(
        [
            {"reasoning": "The skill says to write NOTES.md; try.", "code": ATTEMPT},
            {"reasoning": "Done.", "code": "SUBMIT(answer='nothing written', summary='none')"},
        ]
    )

    def tools() -> ToolBridge:  # a session that would allow every write
        bridge = ToolBridge(policy=PermissionPolicy(rules={"fs_*": "allow"}))
        bridge.add_mcp(gateway_client(repo), prefix="", source="memfun")
        return bridge

    def activate(name: str) -> ActivatedSkill:
        assert name == "release-notes"
        return activate_skill(folder)

    setup = AgentSetup(
        workspace=repo,
        lm=lambda model: lm,
        tools=tools,
        skills=activate,
        agent_options={"verifier": None},
    )
    runtime = RuntimeBuilder().sqlite(tmp_path / "rt.db").agent(
        defined_agent(READER, setup)
    ).build()  # fmt: skip
    async with runtime:
        result = await dispatch(runtime, "Prepare the release notes.", agent=READER.name,
                                timeout=120)  # fmt: skip
        trace = await TraceStore(runtime).load(result.run_id or "")
        published = await runtime.skills.get("release-notes")
        records = await runtime.skills.invocations("release-notes")
        agent_records = await runtime.skills.invocations("agent.notes-reader")

    assert result.ok, result.error
    assert trace is not None
    # the skill's instructions joined the agent's
    assert "RELEASE-NOTES-SKILL-9" in lm.prompts[0].text
    assert "NOTES-READER" in lm.prompts[0].text
    # its allowed-tools did not widen the read-only agent's tools: nothing was written
    output = str(trace.of_kind("step")[0]["output"])
    assert "WROTE" not in output
    assert "fs_write REFUSED" in output
    assert "fs_edit REFUSED" in output
    assert not (repo / "NOTES.md").exists()
    assert "return a - b" in (repo / "calc.py").read_text()
    # published and recorded like any other skill run
    assert published is not None
    assert published.metadata["preloaded_by"] == "notes-reader"
    assert len(records) == 1
    record = records[0]
    assert record.outcome == "success"
    assert record.version == published.version
    assert record.tokens == result.tokens > 0
    assert record.latency > 0
    assert record.metadata["task_kind"] == "agent"
    assert record.metadata["preloaded_by"] == "notes-reader"
    assert record.metadata["run_id"] == result.run_id
    assert record.metadata["not_granted"] == ["fs_edit", "fs_write"]
    assert [r.outcome for r in agent_records] == ["success"]
