"""An activated skill runs with its instructions, only its tools, and its scripts in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_agent import AgentSkillExecutor
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_runtime.sandboxes import LocalSandbox
from memfun_skills import ScriptRunner, SkillExecutor, activate_skill

pytestmark = pytest.mark.usefixtures("sandbox_ok")

SKILL = """---
name: fix-add
description: Fix the add function of calc.py.
allowed-tools: Read Edit Bash(python3:*)
---
# Fix add

Change only `calc.py`. Run `scripts/check.py` when done and report what it prints.
"""


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "fix-add"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    (folder / "scripts" / "check.py").write_text(
        "import os, sys\nprint('check ran as uid', os.getuid(), 'args', sys.argv[1:])\n"
    )
    return folder


async def test_skill_runs_with_its_instructions_tools_and_scripts(
    repo: Path, bridge: ToolBridge, skill_dir: Path
) -> None:
    skill = activate_skill(skill_dir, arguments="please fix add")
    lm = ScriptedLM(
        [
            {
                "reasoning": "Follow the skill.",
                "code": "print(skill_instructions.splitlines()[0])\nprint(sorted(t for t in "
                "['fs_read', 'fs_edit', 'fs_write', 'git_commit', 'shell', 'run_script'] "
                "if t in globals()))",
            },
            {
                "reasoning": "Writing elsewhere is not allowed.",
                "code": "try:\n    fs_write('other.py', 'x')\nexcept Exception as e:\n"
                "    print('no:', type(e).__name__)",
            },
            {
                "reasoning": "Edit and run the check script.",
                "code": "fs_edit('calc.py', 'return a - b', 'return a + b')\n"
                "print(run_script('scripts/check.py', ['--quick'])['stdout'])",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer='fixed; check ran', summary='add')"},
        ]
    )
    executor = AgentSkillExecutor(repo, bridge, lm=lm, agent_options={"verifier": None})
    assert isinstance(executor, SkillExecutor)
    result = await executor.execute(skill, "please fix add", scripts=ScriptRunner(LocalSandbox()))

    assert result.outcome == "success", result.metadata
    assert result.output == "fixed; check ran"
    assert result.tokens > 0
    tools = result.metadata["tools"]
    assert isinstance(tools, list)
    assert {"fs_read", "fs_edit", "run_script", "shell"} <= set(
        tools
    )  # Read, Edit, Bash(python3:*)
    assert "fs_write" not in tools
    assert "git_commit" not in tools
    assert result.metadata["changed_files"] == ["calc.py"]
    assert "return a + b" in (repo / "calc.py").read_text()
    assert not (repo / "other.py").exists()


async def test_shell_is_limited_to_the_granted_prefix(
    repo: Path, bridge: ToolBridge, skill_dir: Path
) -> None:
    skill = activate_skill(skill_dir)
    lm = ScriptedLM(
        [
            {
                "reasoning": "Try both.",
                "code": "print(shell('python3 -c \"print(6*7)\"')['stdout'])\n"
                "try:\n    shell('rm -rf .')\nexcept Exception as e:\n    print('refused:', e)",
            },
            {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='none')"},
        ]
    )
    executor = AgentSkillExecutor(repo, bridge, lm=lm, agent_options={"verifier": None})
    result = await executor.execute(skill, "", scripts=None)
    assert result.outcome == "success"
    trace_steps = lm.prompts[1].text
    assert "42" in trace_steps
    assert "does not allow it with these arguments" in trace_steps
    assert (repo / "calc.py").exists()
