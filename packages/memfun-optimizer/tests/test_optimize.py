"""Program optimization end to end: MIPROv2 and GEPA compile the agent's instructions.

The agent's model is scripted to answer right ONLY when its instructions carry a piece of
guidance (cite the source as path:line); the proposing/reflecting models are scripted to
propose instructions carrying it. The agent, its sandboxed REPL and the eval checker are
real. The compiled program must score higher than Memfun's own on held-out tasks, and
after ``promote`` the agent built from config must run with it (its prompt shows it).
"""

# pyright: reportUnknownMemberType=false, reportUnknownVariableType=false, reportUnknownArgumentType=false

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from memfun_agent import AgentProgram, RLMAgent, default_program
from memfun_agent.testing import ScriptedLM, fake_openai_server, format_fields
from memfun_agent.tools import ToolBridge
from memfun_core.config import load_config
from memfun_core.errors import ConflictError, NotFoundError
from memfun_core.trust import trust_folder
from memfun_optimizer.evals import EvalTask, agent_attempts, load_suite
from memfun_optimizer.optimize import (
    ProgramStore,
    bootstrap_interval,
    compare_programs,
    optimize_program,
    suite_runner,
)
from memfun_runtime.sandboxes import LocalSandbox

GUIDANCE = "Cite the source of every fact as path:line."
_FUNCTIONS = {  # verb in the task -> (function, line in calc.py)
    "adds": ("add", 1),
    "subtracts": ("sub", 4),
    "multiplies": ("mul", 7),
    "divides": ("div", 10),
    "negates": ("neg", 13),
    "squares": ("square", 16),
}
_TASK = re.compile(r"Which function in calc\.py (\w+)\?")


def _suite(tmp_path: Path) -> Path:
    fixture = tmp_path / "suite" / "fixtures" / "calc"
    fixture.mkdir(parents=True)
    source = "".join(
        f"def {name}(a, b=0):\n    return a  # {verb}\n\n" for verb, (name, _) in _FUNCTIONS.items()
    )
    (fixture / "calc.py").write_text(source, encoding="utf-8")
    tasks = [
        {
            "id": f"which-{name}",
            "kind": "question",
            "fixture": "fixtures/calc",
            "task": f"Which function in calc.py {verb}?",
            "check": {"contains": [name], "regex": rf"calc\.py:{line}\b"},
        }
        for verb, (name, line) in _FUNCTIONS.items()
    ]
    suite = {"schema": "memfun.evals/1", "name": "cite", "tasks": tasks}
    path = tmp_path / "suite" / "suite.yaml"
    path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    return path


def _agent_reply(prompt: str) -> dict[str, str]:
    """Right (path:line) only when the instructions carry the guidance."""
    found = _TASK.search(prompt)
    name, line = _FUNCTIONS[found.group(1)] if found else ("unknown", 0)
    answer = f"{name}, at calc.py:{line}" if GUIDANCE in prompt else f"the function {name}"
    return {
        "reasoning": "I know the file.",
        "code": f"SUBMIT(answer={answer!r}, summary='no changes')",
    }


def _output_fields(prompt: str) -> list[str]:
    part = prompt.split("Your output fields are:", 1)
    if len(part) < 2:
        return []
    block = part[1].split("\n\n", 1)[0]
    return re.findall(r"^\d+\. `(\w+)`", block, flags=re.MULTILINE)


def _proposer_reply(prompt: str) -> str:
    """Fills whatever a DSPy proposer or GEPA's reflection asks; instructions carry GUIDANCE."""
    fields = _output_fields(prompt)
    instruction = f"You are Memfun, a coding agent. Answer questions about code. {GUIDANCE}"
    if not fields:
        return f"```\n{instruction}\n```"
    values = {
        f: instruction if "instruction" in f else "A coding agent answering questions."
        for f in fields
    }
    if "JSON object" in prompt:  # GEPA's proposer answers through DSPy's JSONAdapter
        return json.dumps(values)
    return format_fields(values)


def _runner(suite_path: Path, agent_lm: ScriptedLM) -> Any:
    suite = load_suite(suite_path)
    sandbox = LocalSandbox()

    def attempts(program: AgentProgram) -> Any:
        def make(task: EvalTask, workspace: Path) -> RLMAgent:
            del task
            return RLMAgent(
                workspace, lm=agent_lm, bridge=ToolBridge(), verifier=None, program=program
            )

        return agent_attempts(make)

    return suite, suite_runner(suite, attempts, sandbox=sandbox)


@pytest.mark.parametrize("optimizer", ["mipro", "gepa"])
def test_the_compiled_program_beats_the_baseline_and_the_agent_runs_it_once_promoted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_ok: None,
    optimizer: str,
) -> None:
    agent_lm = ScriptedLM([_agent_reply], repeat_last=True)
    proposer = ScriptedLM([_proposer_reply], repeat_last=True, model="scripted/proposer")
    suite, run = _runner(_suite(tmp_path), agent_lm)
    held_out = ("which-neg", "which-square")

    result = optimize_program(
        suite,
        run,
        optimizer=optimizer,  # pyright: ignore[reportArgumentType]
        budget=3 if optimizer == "mipro" else 16,
        prompt_lm=proposer,
        reflection_lm=proposer,
        held_out=held_out,
    )

    assert result.held_out == held_out
    assert set(result.train).isdisjoint(held_out)
    assert result.baseline_score == 0.0
    assert result.score == 1.0
    assert GUIDANCE in result.program.instructions
    assert proposer.prompts, "the optimizer never asked its model for instructions"
    # the held-out tasks were never shown to the optimizer's models
    assert not any("negates" in p.text or "squares" in p.text for p in proposer.prompts)

    # stored, compared with an interval, promoted: the agent built from config runs it
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "calc.py").write_text("def neg(a):\n    return -a\n", encoding="utf-8")
    store = ProgramStore(project / ".memfun")
    saved = store.save(
        result.program,
        {"suite": suite.name, "optimizer": optimizer, "score": result.score,
         "baseline_score": result.baseline_score, "held_out": list(held_out)},
    )  # fmt: skip
    comparison = compare_programs(
        run, default_program(), store.load("agent", saved.version), held_out
    )
    assert comparison.difference == 1.0
    assert comparison.low == comparison.high == 1.0  # every pair improved
    store.promote("agent", saved.version)

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    with fake_openai_server() as fake:
        (project / "memfun.toml").write_text(
            f'[llm]\nmodel = "openai/scripted"\napi_base = "{fake.base}"\n', encoding="utf-8"
        )
        config = load_config(project, environ={}, files=[project / "memfun.toml"])
        reply = format_fields(_agent_reply(f"Which function in calc.py negates? {GUIDANCE}"))

        # a folder that is not trusted: its promoted program is project content, not used
        fake.replies = [reply]
        untrusted = RLMAgent.from_config(config)
        try:
            assert untrusted.program is None
        finally:
            untrusted.close()

        trust_folder(project)
        fake.replies = [reply]
        agent = RLMAgent.from_config(config, policy=None)
        try:
            assert agent.program is not None
            assert agent.program.version == saved.version
            done = agent.run_sync("Which function in calc.py negates?", repo_map="")
        finally:
            agent.close()
    assert done.completed, done.error
    prompt = str(fake.requests[0])
    assert GUIDANCE in prompt  # the optimized instructions reached the model
    assert "You are Memfun, an autonomous coding agent" not in prompt  # in place of the default
    assert any(
        r.get("kind") == "program" and r.get("version") == saved.version for r in done.trace.records
    )


def test_versions_promote_and_rollback(tmp_path: Path) -> None:
    store = ProgramStore(tmp_path / ".memfun")
    with pytest.raises(ConflictError):
        store.rollback("agent")
    first = store.save(AgentProgram("agent", "", "first"), {"suite": "s", "score": 0.5})
    second = store.save(
        AgentProgram("agent", "", "second", demos=(("t", "a"),)), {"suite": "s", "score": 0.8}
    )
    assert (first.version, second.version) == ("1", "2")
    assert store.load("agent", "2").prompt_text().endswith("Task: t\nAnswer: a")
    with pytest.raises(NotFoundError):
        store.promote("agent", "7")
    store.promote("agent", "1")
    store.promote("agent", "2")
    assert [v.promoted for v in store.versions("agent")] == [False, True]
    assert store.versions("agent")[1].manifest["score"] == 0.8
    assert "created_at" in store.versions("agent")[0].manifest
    assert store.rollback("agent") == "1"
    assert store.promoted("agent") == "1"
    assert store.rollback("agent") is None  # back to Memfun's own instructions
    assert store.promoted("agent") is None


def test_the_bootstrap_interval_brackets_the_difference() -> None:
    low, high = bootstrap_interval([0, 1, 0, 1, 0, 0, 1, 0], [1, 1, 1, 1, 0, 1, 1, 0])
    assert low <= 3 / 8 <= high
    assert low >= 0.0  # no pair got worse
    same_low, same_high = bootstrap_interval([1, 0, 1, 0], [1, 0, 1, 0])
    assert same_low == same_high == 0.0
