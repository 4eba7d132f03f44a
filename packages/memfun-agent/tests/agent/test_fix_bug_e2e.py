"""End to end: the agent fixes a bug through the file tools, and pytest runs in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge

pytestmark = pytest.mark.usefixtures("sandbox_ok")


@pytest.mark.slow
async def test_agent_fixes_the_bug_and_verification_feeds_back(
    repo: Path, bridge: ToolBridge
) -> None:
    lm = ScriptedLM(
        [
            {"reasoning": "Read the code.", "code": "print(open('calc.py').read())"},
            {
                "reasoning": "Wrong fix first.",
                "code": "r = fs_edit('calc.py', 'return a - b', 'return a * b')\nprint(r['diff'])",
            },
            {"reasoning": "Submit.", "code": "SUBMIT(answer='done', summary='changed add')"},
            {
                "reasoning": "The checks failed; fix it properly.",
                "code": "r = fs_edit(path='calc.py', old_text='return a * b\\n\\n\\ndef mul',"
                " new_text='return a + b\\n\\n\\ndef mul')\nprint(r['diff'])",
            },
            {
                "reasoning": "Check again.",
                "code": "print(verify()['passed'])",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer='fixed add', summary='add now adds')"},
        ]
    )
    agent = RLMAgent(repo, lm=lm, bridge=bridge)
    result = await agent.run("add() returns the wrong result; fix it")

    assert result.outcome == "completed", result.error
    assert result.answer == "fixed add"
    assert (repo / "calc.py").read_text().startswith("def add(a, b):\n    return a + b\n")
    assert result.changed_files == ("calc.py",)
    assert "-    return a - b\n+    return a + b\n" in result.diff
    assert result.diff.startswith("--- a/calc.py\n+++ b/calc.py\n")
    # the first SUBMIT was refused because pytest failed in the sandbox
    rejected = result.steps[2]
    assert "SUBMIT was not accepted" in rejected.output
    assert "assert 6 == 5" in rejected.output or "FAILED" in rejected.output
    assert result.steps[4].output.strip() == "True"
    assert result.verification is not None
    assert result.verification["passed"] is True
    assert "pytest" in result.verification["checks"][0]["command"]
    kinds = [record["kind"] for record in result.trace.records]
    assert kinds.count("verification") == 2  # the refused SUBMIT and the final one
    assert any(r["tool"] == "verify" for r in result.trace.of_kind("tool_call"))
    assert kinds.count("step") == 6
    edits = [r for r in result.trace.of_kind("tool_call") if r["tool"] == "fs_edit"]
    assert len(edits) == 2
    assert all(record["ok"] for record in edits)
    assert result.usage.iterations == 6
    assert result.usage.lm_calls == 6
    assert lm.remaining == 0


async def test_the_workspace_is_read_only_in_the_repl(repo: Path, bridge: ToolBridge) -> None:
    lm = ScriptedLM(
        [
            {
                "reasoning": "Try to write directly.",
                "code": "open('calc.py', 'a').write('# hacked')",
            },
            {"reasoning": "Give up.", "code": "SUBMIT(answer='no', summary='no changes')"},
        ]
    )
    result = await RLMAgent(repo, lm=lm, bridge=bridge, verifier=None).run("write")
    assert result.outcome == "completed"
    assert result.steps[0].error is not None
    assert "Read-only file system" in result.steps[0].error or "Permission" in result.steps[0].error
    assert "hacked" not in (repo / "calc.py").read_text()
    assert result.diff == ""
