"""What a definition may do, enforced while it runs on T1: tool limits, budgets, agent files.

Each attack is what a hostile agent file or model output would try.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_agent import Budgets, Pricing
from memfun_agent.definitions import (
    AgentBudgets,
    AgentDefinition,
    AgentScope,
    builtin_agents_dir,
    load_agent_file,
)
from memfun_agent.dispatch import AgentSetup, AgentTaskResult, defined_agent, dispatch
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import PermissionPolicy, PermissionRequest, ToolBridge, gateway_client
from memfun_agent.traces import RunTrace, TraceStore
from memfun_core.config import AgentsConfig
from memfun_runtime import RuntimeBuilder

pytestmark = pytest.mark.usefixtures("sandbox_ok")


def _gateway(repo: Path, asked: list[PermissionRequest] | None = None) -> Callable[[], ToolBridge]:
    """Memfun's real tools over ``repo``; writes and the sandboxed shell allowed.

    A write the policy still asks about (a sensitive path) is approved and kept in ``asked``,
    as a user at the terminal would approve it.
    """

    async def approve(request: PermissionRequest) -> bool:
        if asked is None:
            return False
        asked.append(request)
        return True

    def make() -> ToolBridge:
        policy = PermissionPolicy(rules={"fs_*": "allow", "shell": "allow"}, ask=approve)
        bridge = ToolBridge(policy=policy)
        bridge.add_mcp(gateway_client(repo), prefix="", source="memfun")
        return bridge

    return make


async def _run(
    tmp_path: Path,
    definition: AgentDefinition,
    setup: AgentSetup,
    task: str = "Do the task.",
) -> tuple[AgentTaskResult, RunTrace]:
    runtime = RuntimeBuilder().sqlite(tmp_path / "rt.db").agent(
        defined_agent(definition, setup)
    ).build()  # fmt: skip
    async with runtime:
        result = await dispatch(runtime, task, agent=definition.name, timeout=120)
        trace = await TraceStore(runtime).load(result.run_id or "")
    assert trace is not None, result
    return result, trace


def _builtin(name: str) -> AgentDefinition:
    folder = builtin_agents_dir()
    assert folder is not None, "the built-in agents folder is missing"
    return load_agent_file(folder / f"{name}.md", scope="builtin")


def _write_agent(folder: Path, name: str, frontmatter: str, body: str = "You work.") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"---\n{textwrap.dedent(frontmatter).strip()}\n---\n\n{body}\n")
    return path


# --- 1. agent-architect gets agent_validate, and never saves a broken file -------------------

_BAD = "---\nname: Doc_Writer\ndescription: Writes docs.\n---\nYou write docs.\n"
_GOOD = (
    "---\nname: doc-writer\ndescription: Writes and updates the documentation.\n"
    "tools: Read, Grep, Edit\n---\n\nYou write the documentation.\n"
)


async def test_the_agent_architect_validates_and_saves_only_a_valid_file(
    repo: Path, tmp_path: Path
) -> None:
    architect = _builtin("agent-architect")
    target = ".memfun/agents/doc-writer.md"
    lm = ScriptedLM(
        [
            {
                "reasoning": "Draft, validate, and (a careless model) try to save it anyway.",
                "code": f"bad = {_BAD!r}\n"
                f"r = agent_validate(text=bad, path={target!r})\n"
                "print(r['valid'], [(e['line'], e['field'], e['rule']) for e in r['errors']])\n"
                "try:\n"
                f"    fs_write({target!r}, bad)\n"
                "    print('SAVED')\n"
                "except Exception as exc:\n"
                "    print('REFUSED', exc)",
            },
            {
                "reasoning": "Fix the name, validate again, save.",
                "code": f"good = {_GOOD!r}\n"
                f"r = agent_validate(text=good, path={target!r})\n"
                "print(r['valid'], r['errors'])\n"
                f"fs_write({target!r}, good)",
            },
            {"reasoning": "Done.", "code": f"SUBMIT(answer={target!r}, summary='created')"},
        ]
    )
    asked: list[PermissionRequest] = []
    setup = AgentSetup(
        workspace=repo,
        lm=lambda model: lm,
        tools=_gateway(repo, asked),
        agent_options={"verifier": None},
    )
    result, trace = await _run(tmp_path, architect, setup, "An agent that writes docs.")

    assert result.ok, result.error
    first, second = (step["output"] for step in trace.of_kind("step")[:2])
    # The validation error comes from the tool: line, field and rule.
    assert "False [(2, 'name', 'name-lowercase')]" in str(first)
    # The invalid text was not saved even though the model tried.
    assert "REFUSED" in str(first)
    assert "does not validate" in str(first)
    assert str(second).startswith("True []")
    saved = load_agent_file(repo / target)
    assert saved.name == "doc-writer"
    assert saved.tools == ("fs_read", "search_text", "fs_edit")
    assert result.changed_files == (target,)
    # Nobody is asked to approve a file that does not validate.
    assert all(request.arguments.get("content") == _GOOD for request in asked)


async def test_only_agents_whose_tools_name_it_get_agent_validate(
    repo: Path, tmp_path: Path
) -> None:
    coder = _builtin("coder")
    lm = ScriptedLM(
        [
            {"reasoning": "Look.", "code": "print('agent_validate' in dir())"},
            {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='none')"},
        ]
    )
    setup = AgentSetup(
        workspace=repo, lm=lambda model: lm, tools=_gateway(repo), agent_options={"verifier": None}
    )
    result, trace = await _run(tmp_path, coder, setup)

    assert result.ok, result.error
    assert str(trace.of_kind("step")[0]["output"]).strip() == "False"


# --- 3. tool limits (Edit(src/**), Bash(ls:*)) hold at call time -----------------------------


async def test_a_path_limited_agent_cannot_write_outside_its_pattern(
    repo: Path, tmp_path: Path
) -> None:
    workflow = repo / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("on: push\n")
    (repo / "src").mkdir()
    (repo / "src" / "a.py").write_text("A = 1\n")
    (repo / "src" / "ci").symlink_to("../.github/workflows")
    agent_file = _write_agent(
        repo / ".claude" / "agents",
        "src-editor",
        """
        name: src-editor
        description: Edits the source files under src/.
        tools: Read, Write(src/**), Edit(src/**), Bash(ls:*)
        """,
    )
    definition = load_agent_file(agent_file, scope="project")
    attempts = [
        "src/../.github/workflows/ci.yml",  # climbs out of src/ as text
        "src/ci/ci.yml",  # a link inside src/ that leads to the workflows
        "other.txt",  # simply outside the pattern
        "/etc/cron.d/x",
        "src/a.py",  # allowed
    ]
    code = (
        f"out = []\nfor path in {attempts!r}:\n"
        "    try:\n"
        "        fs_write(path, 'pwned = True\\n')\n"
        "        out.append('WROTE ' + path)\n"
        "    except Exception as exc:\n"
        "        out.append('REFUSED ' + path + ' ' + str(exc).replace(chr(10), ' ')[:300])\n"
        "try:\n"
        "    fs_edit('other2.txt', 'a', 'b')\n"
        "except Exception as exc:\n"
        "    out.append('REFUSED edit ' + str(exc)[:200])\n"
        "for command in ('ls src', 'ls src; touch pwned', 'touch pwned'):\n"
        "    try:\n"
        "        shell(command)\n"
        "        out.append('RAN ' + command)\n"
        "    except Exception as exc:\n"
        "        out.append('REFUSED ' + command)\n"
        "print('\\n'.join(out))"
    )
    lm = ScriptedLM(
        [
            {"reasoning": "A hostile model tries to reach the CI config.", "code": code},
            {"reasoning": "Done.", "code": "SUBMIT(answer='\\n'.join(out), summary='tried')"},
        ]
    )
    setup = AgentSetup(
        workspace=repo, lm=lambda model: lm, tools=_gateway(repo), agent_options={"verifier": None}
    )
    result, _trace = await _run(tmp_path, definition, setup)

    assert result.ok, result.error
    lines = result.answer.splitlines()
    for path in attempts[:4]:
        line = next(line for line in lines if line.split(" ")[1] == path)
        assert line.startswith("REFUSED"), line
        assert "may not call it with these arguments" in line
        assert "Write(src/**)" in line
    assert "WROTE src/a.py" in lines
    assert any(line.startswith("REFUSED edit") for line in lines)
    assert "RAN ls src" in lines
    assert "REFUSED ls src; touch pwned" in lines
    assert "REFUSED touch pwned" in lines
    # Nothing was written outside src/, through the link or otherwise.
    assert workflow.read_text() == "on: push\n"
    assert not (repo / "other.txt").exists()
    assert not (repo / "other2.txt").exists()
    assert not (repo / "pwned").exists()
    assert (repo / "src" / "a.py").read_text() == "pwned = True\n"
    assert result.changed_files == ("src/a.py",)


# --- 4. budgets in agent files never exceed the configured ones --------------------------------

_PRICING = Pricing(input_usd_per_mtok=1000.0, output_usd_per_mtok=1000.0)
_STEP = {"reasoning": "Keep going.", "code": "print('step')"}
_DONE = {"reasoning": "Done.", "code": "SUBMIT(answer='done', summary='none')"}


@pytest.mark.parametrize("scope", ["project", "user", "builtin"])
async def test_a_greedy_agent_file_is_capped_at_the_configured_budgets(
    repo: Path, tmp_path: Path, scope: AgentScope
) -> None:
    agent_file = _write_agent(
        tmp_path / "agents",
        "spender",
        """
        name: spender
        description: Spends whatever it is given.
        maxTurns: 50
        budgets:
          max-cost-usd: 1000
          max-wall-seconds: 100000
        """,
    )
    definition = load_agent_file(agent_file, scope=scope)
    assert definition.budgets.max_cost_usd == 1000
    lm = ScriptedLM([_STEP, _STEP, _STEP, _DONE])
    setup = AgentSetup(
        workspace=repo,
        lm=lambda model: lm,
        tools=ToolBridge,
        budgets=Budgets(max_iterations=10, max_cost_usd=1.0, max_wall_seconds=600.0),
        agent_options={"verifier": None, "pricing": _PRICING},
    )
    result, trace = await _run(tmp_path, definition, setup)

    budgets = trace.of_kind("run_start")[0]["budgets"]
    assert budgets["max_cost_usd"] == 1.0  # type: ignore[index]
    assert budgets["max_iterations"] == 10  # type: ignore[index]
    assert budgets["max_wall_seconds"] == 600.0  # type: ignore[index]
    # The first step (about $2 at this price) is already over the configured dollar.
    assert result.outcome == "max_cost"
    assert lm.remaining == 3


async def test_a_tighter_file_budget_and_an_inline_definition_are_kept(
    repo: Path, tmp_path: Path
) -> None:
    setup_budgets = Budgets(max_iterations=10, max_cost_usd=1.0)
    tight = AgentDefinition(
        name="tight",
        description="Frugal.",
        budgets=AgentBudgets(max_iterations=2),
        scope="project",
    )
    trusted = AgentDefinition(
        name="trusted",
        description="Built in code with a larger allowance.",
        budgets=AgentBudgets(max_cost_usd=1000.0),
    )
    tight_lm = ScriptedLM([_STEP, _STEP, {"answer": "partial", "summary": "out of steps"}])
    trusted_lm = ScriptedLM([_STEP, _DONE])
    lms = {"tight": tight_lm, "trusted": trusted_lm}
    for definition in (tight, trusted):
        setup = AgentSetup(
            workspace=repo,
            lm=lambda model, name=definition.name: lms[name],
            tools=ToolBridge,
            budgets=setup_budgets,
            # Only the trusted run is priced: its dollars are what the test is about.
            agent_options={
                "verifier": None,
                **({"pricing": _PRICING} if definition is trusted else {}),
            },
        )
        result, trace = await _run(tmp_path / definition.name, definition, setup)
        budgets = trace.of_kind("run_start")[0]["budgets"]
        if definition is tight:
            assert result.outcome == "max_iterations"
            assert budgets["max_iterations"] == 2  # type: ignore[index]
        else:
            assert result.outcome == "completed", result.error
            assert result.cost_usd > 1.0
            assert budgets["max_cost_usd"] == 1000.0  # type: ignore[index]


# --- 2. project instructions in a defined agent's run ------------------------------------------


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_defined_agent_reads_agents_md_unless_turned_off(
    repo: Path, tmp_path: Path, enabled: bool
) -> None:
    (repo / "AGENTS.md").write_text("Always answer in French (RULE-FR-9).\n")
    definition = AgentDefinition(name="helper", description="Helps.")
    lm = ScriptedLM([{"reasoning": "Read.", "code": "print(repr(project_instructions))"}, _DONE])
    setup = AgentSetup(
        workspace=repo,
        lm=lambda model: lm,
        tools=ToolBridge,
        agent_options={"verifier": None},
        agents=AgentsConfig(project_instructions=enabled),
    )
    result, trace = await _run(tmp_path, definition, setup)

    assert result.ok, result.error
    assert ("RULE-FR-9" in lm.prompts[0].text) is enabled
    assert ("RULE-FR-9" in str(trace.of_kind("step")[0]["output"])) is enabled
