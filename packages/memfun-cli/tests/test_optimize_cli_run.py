"""``memfun optimize run`` (MIPROv2 and GEPA), ``compare`` and ``synthesize`` as a user runs them.

Every command is a real ``memfun`` subprocess; the model is the OpenAI-compatible scripted
server on 127.0.0.1 with a responder that answers what each prompt asks: the agent answers
right (``calc.py:LINE``) only when its instructions carry GUIDANCE, the optimizers' proposing
and reflecting prompts are answered with instructions carrying it, and the synthesis prompts
with a skill or agent draft. The agent, its sandbox, the tools and the eval checker are real.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from memfun_agent import RLMAgent, TraceStore
from memfun_agent.testing import FakeOpenAI, ScriptedLM, fake_openai_server, format_fields
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client
from memfun_runtime import RuntimeBuilder
from memfun_runtime.backends.sqlite import project_ownership

pytestmark = pytest.mark.usefixtures("optimize_sandbox")

MEMFUN = str(Path(sys.executable).parent / "memfun")
GUIDANCE = "Cite the source of every fact as path:line."
_FUNCTIONS = {"adds": ("add", 1), "subtracts": ("sub", 4), "multiplies": ("mul", 7),
              "divides": ("div", 10), "negates": ("neg", 13), "squares": ("square", 16)}  # fmt: skip
_TASK = re.compile(r"Which function in calc\.py (\w+)\?")
HELD_OUT = ("which-neg", "which-square")
SKILL = {"name": "todo-counting", "description": "Count the TODO comments in a module.",
         "steps": "1. Read the module with `fs_read`.\n2. Count."}  # fmt: skip
AGENT = {"name": "todo-counter", "description": "Counts the TODO comments in a module.",
         "body": "You count TODO comments: read the module with `fs_read`, then SUBMIT."}  # fmt: skip


@pytest.fixture
def optimize_sandbox() -> None:
    from memfun_runtime.sandboxes.local import probe

    caps = probe()
    if not (caps.namespaces or (caps.landlock_abi and caps.seccomp)):
        reason = f"no local sandbox here: {caps.namespace_error}"
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(message.get("content")) for message in body.get("messages", []))


def _output_fields(prompt: str) -> list[str]:
    part = prompt.split("Your output fields are:", 1)
    if len(part) < 2:
        return []
    return re.findall(r"^\d+\. `(\w+)`", part[1].split("\n\n", 1)[0], flags=re.MULTILINE)


def respond(body: dict[str, Any]) -> str:
    """The model: answers the agent, the optimizers and synthesis by what their prompt asks."""
    prompt = _prompt(body)
    fields = _output_fields(prompt)
    if fields == ["reasoning", "code"]:  # the agent's REPL step
        found = _TASK.search(prompt)
        name, line = _FUNCTIONS[found.group(1)] if found else ("unknown", 0)
        answer = f"{name}, at calc.py:{line}" if GUIDANCE in prompt else f"the function {name}"
        return format_fields(
            {"reasoning": "I know it.", "code": f"SUBMIT(answer={answer!r}, summary='none')"}
        )
    if "steps" in fields:  # a skill draft
        return format_fields(SKILL)
    if "body" in fields and "name" in fields:  # an agent draft
        return format_fields(AGENT)
    instruction = f"You are Memfun, a coding agent. Answer questions about code. {GUIDANCE}"
    if not fields:
        return f"```\n{instruction}\n```"
    values = {f: instruction if "instruction" in f else "A coding agent." for f in fields}
    return json.dumps(values) if "JSON object" in prompt else format_fields(values)


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as fake:
        fake.responder = respond
        yield fake


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    (tmp_path / "home").mkdir()
    proj = tmp_path / "proj"
    fixture = proj / "evals" / "fixtures" / "calc"
    fixture.mkdir(parents=True)
    source = "".join(
        f"def {name}(a, b=0):\n    return a  # {verb}\n\n" for verb, (name, _) in _FUNCTIONS.items()
    )
    (fixture / "calc.py").write_text(source, encoding="utf-8")
    tasks = [
        {"id": f"which-{name}", "kind": "question", "fixture": "fixtures/calc",
         "task": f"Which function in calc.py {verb}?",
         "check": {"contains": [name], "regex": rf"calc\.py:{line}\b"}}
        for verb, (name, line) in _FUNCTIONS.items()
    ]  # fmt: skip
    suite = {"schema": "memfun.evals/1", "name": "cite", "tasks": tasks}
    (proj / "evals" / "suite.yaml").write_text(yaml.safe_dump(suite), encoding="utf-8")
    (proj / "calc.py").write_text("# TODO one\n# TODO two\n", encoding="utf-8")
    (proj / "memfun.toml").write_text(
        f'[llm]\nmodel = "openai/test-model"\napi_base = "{model.base}"\n'
        'api_key_env = "MEMFUN_TEST_KEY"\n[runtime]\ntier = "sqlite"\n',
        encoding="utf-8",
    )
    return proj


def cli_env(project: Path) -> dict[str, str]:
    """The environment ``memfun`` runs in: its own home (config folder, keys, trust store)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_") and "API_KEY" not in k
    }
    env.pop("XDG_CONFIG_HOME", None)
    env.update(HOME=str(project.parent / "home"), MEMFUN_TEST_KEY="test-key-value-123")
    return env


def memfun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MEMFUN, *args], cwd=project, env=cli_env(project), capture_output=True, text=True,
        check=False, stdin=subprocess.DEVNULL, timeout=900,
    )  # fmt: skip


def _run(project: Path, optimizer: str, budget: int) -> dict[str, Any]:
    held = [arg for task in HELD_OUT for arg in ("--held-out", task)]
    done = memfun(
        project, "optimize", "run", "evals/suite.yaml", "--optimizer", optimizer,
        "--budget", str(budget), *held, "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3_000:]
    return json.loads(done.stdout)


def test_optimize_run_with_mipro_and_gepa_then_compare(project: Path, model: FakeOpenAI) -> None:
    mipro = _run(project, "mipro", 3)
    assert mipro["version"] == "1"
    assert mipro["held_out"] == list(HELD_OUT)
    assert set(mipro["train"]).isdisjoint(HELD_OUT)
    assert (mipro["baseline_score"], mipro["score"]) == (0.0, 1.0)
    program = json.loads((project / ".memfun" / "programs" / "agent" / "1" / "program.json")
                         .read_text(encoding="utf-8"))  # fmt: skip
    assert GUIDANCE in program["instructions"]
    # the held-out tasks never reached the optimizer's model (only the agent's runs)
    proposing = [_prompt(b) for b in model.requests if _output_fields(_prompt(b)) != [
        "reasoning", "code"]]  # fmt: skip
    assert proposing, "MIPROv2 never asked the model for instructions"
    assert not any("negates" in p or "squares" in p for p in proposing)

    compared = memfun(project, "optimize", "compare", "1", "--json")
    assert compared.returncode == 0, compared.stderr[-3_000:]  # exit 0: the candidate is better
    result = json.loads(compared.stdout)
    assert result["tasks"] == list(HELD_OUT)
    assert (result["baseline_score"], result["candidate_score"]) == (0.0, 1.0)
    assert result["difference"] == 1.0
    assert result["interval"] == [1.0, 1.0]

    gepa = _run(project, "gepa", 16)
    assert gepa["version"] == "2"
    assert (gepa["baseline_score"], gepa["score"]) == (0.0, 1.0)
    listed = json.loads(memfun(project, "optimize", "list", "--json").stdout)
    assert [(v["version"], v["optimizer"], v["promoted"]) for v in listed] == [
        ("1", "mipro", False), ("2", "gepa", False)]  # fmt: skip
    # a version no better than the baseline: compare exits 1
    worse = memfun(project, "optimize", "compare", "1", "--baseline", "2", "--json")
    assert worse.returncode == 1, worse.stderr[-3_000:]
    assert json.loads(worse.stdout)["difference"] == 0.0


def _record_runs(project: Path, count: int) -> None:
    """Successful runs of one repeated task, stored in the project's T1 runtime."""
    look = {"reasoning": "Read it.", "code": "print(fs_read('calc.py'))"}
    done = {"reasoning": "Counted.", "code": "SUBMIT(answer='2 TODO comments', summary='read')"}
    bridges: list[ToolBridge] = []

    database = project / ".memfun" / "runtime.db"  # stamped with the key `memfun` will use
    owner = project_ownership(project, database, cli_env(project))

    async def record() -> None:
        async with RuntimeBuilder().sqlite(database, ownership=owner).build() as runtime:
            for i in range(count):
                bridge = ToolBridge(policy=PermissionPolicy())
                bridge.add_mcp(gateway_client(project), prefix="", source="memfun")
                bridges.append(bridge)
                agent = RLMAgent(project, lm=ScriptedLM([look, done]), bridge=bridge,
                                 verifier=None, traces=TraceStore(runtime.backend))  # fmt: skip
                result = await agent.run(f"Count the TODO comments in module{i}.py")
                assert result.completed, result.error

    try:
        asyncio.run(record())
    finally:
        for bridge in bridges:  # closed outside the loop, as the tool servers expect
            bridge.close()


def test_synthesize_drafts_a_skill_and_an_agent_that_accept_activates(
    project: Path, model: FakeOpenAI
) -> None:
    none_yet = memfun(project, "optimize", "synthesize", "--kind", "agent")
    assert none_yet.returncode == 0, none_yet.stderr
    assert "no cluster of 5 or more" in none_yet.stdout
    _record_runs(project, 6)
    assert memfun(project, "trust", str(project)).returncode == 0

    agent = memfun(project, "optimize", "synthesize", "--kind", "agent")
    assert agent.returncode == 0, agent.stderr[-3_000:]
    assert "drafted agent todo-counter from 6 runs" in agent.stdout
    assert "read-only" in agent.stdout
    assert "memfun agent accept todo-counter" in agent.stdout
    draft = project / ".memfun" / "agents" / "_drafts" / "todo-counter.md"
    assert draft.is_file()
    listed = json.loads(memfun(project, "agent", "list", "--json").stdout)
    assert "todo-counter" not in [a["name"] for a in listed["agents"]]

    accepted = memfun(project, "agent", "accept", "todo-counter")
    assert accepted.returncode == 0, accepted.stderr
    shown = memfun(project, "agent", "info", "todo-counter", "--json")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["scope"] == "project"
    assert info["read_only"] is True
    assert info["tools"] == ["fs_read", "fs_list", "fs_glob", "search_text", "repomap_map"]
    again = memfun(project, "agent", "accept", "todo-counter")
    assert again.returncode != 0
    assert "todo-counter" in again.stderr

    skill = memfun(project, "optimize", "synthesize")  # --kind skill is the default
    assert skill.returncode == 0, skill.stderr[-3_000:]
    assert "drafted skill todo-counting from 6 runs" in skill.stdout
    assert memfun(project, "skill", "accept", "todo-counting").returncode == 0
    assert (project / ".memfun" / "skills" / "todo-counting" / "SKILL.md").is_file()

    wrong = memfun(project, "optimize", "synthesize", "--kind", "prompt")
    assert wrong.returncode != 0
    assert "--kind skill or --kind agent" in wrong.stderr
