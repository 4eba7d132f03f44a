"""Agent definitions in two `memfun runtime worker --agents DIR` processes on Redis and NATS.

Real worker processes, the real agent and sandbox, a real Redis / NATS JetStream server
(a fresh namespace per test) and a fake OpenAI-compatible server standing in for the model.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memfun_agent.dispatch import dispatch, queue_of, started_key
from memfun_agent.testing import FakeOpenAI, format_fields
from memfun_agent.traces import TraceStore
from memfun_cli.testing import CALC, MEMFUN, cli_env, new_project
from memfun_runtime import Runtime, RuntimeBuilder
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing

# A Claude Code subagent file, unchanged: tools as a comma-separated string, model inherit.
REVIEWER = """---
name: reviewer
description: Reviews code for bugs. Use after a change.
tools: Read, Grep, Glob
model: inherit
---
You are REVIEWER-7. Review the code you are given and report bugs.
"""

SUBMIT = format_fields(
    {"reasoning": "Done.", "code": "SUBMIT(answer='add() subtracts', summary='no changes')"}
)


@pytest.fixture(params=["redis", "nats"])
def tier(request: pytest.FixtureRequest) -> tuple[str, str]:
    name = str(request.param)
    fixture = "redis_url" if name == "redis" else "nats_url"
    return name, str(request.getfixturevalue(fixture))


@pytest.fixture
def project(tmp_path: Path, tier: tuple[str, str], model: FakeOpenAI) -> Iterator[Path]:
    name, url = tier
    project = new_project(
        tmp_path,
        model.base,
        files={"agents/reviewer.md": REVIEWER, "calc.py": CALC},
        tier=name,
        max_iterations=None,
        extra=f'{name}_url = "{url}"\n',  # in [runtime]
    )
    # A name of the user's own, as workers on several hosts would share (a project's own
    # memfun.toml naming one waits for trust); unique per test run.
    _user_config(project).parent.mkdir(parents=True)
    namespace = f"agentworkers-{uuid.uuid4().hex[:12]}"
    _user_config(project).write_text(f'[runtime]\nnamespace = "{namespace}"\n', encoding="utf-8")
    yield project
    if name == "redis":
        redis_testing.purge_namespace(namespace, url)
    else:
        nats_testing.purge_namespaces([namespace], url)


def _user_config(project: Path) -> Path:
    return project.parent / "home" / ".config" / "memfun" / "config.toml"


def _runtime(project: Path, tier: tuple[str, str]) -> Runtime:
    name, url = tier
    text = _user_config(project).read_text(encoding="utf-8")
    namespace = text.split('namespace = "')[1].split('"')[0]
    builder = RuntimeBuilder()
    if name == "redis":
        return builder.redis(url, namespace=namespace).build()
    return builder.nats(url, namespace=namespace).build()


def _start_worker(project: Path) -> subprocess.Popen[str]:
    env = cli_env(project)
    with (project.parent / f"worker-{uuid.uuid4().hex[:6]}.log").open("w") as log:
        return subprocess.Popen(
            [MEMFUN, "runtime", "worker", "--agents", "agents", "--visibility-timeout", "6"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )


@pytest.fixture
async def workers(
    project: Path, tier: tuple[str, str]
) -> AsyncIterator[tuple[Runtime, list[subprocess.Popen[str]]]]:
    processes = [_start_worker(project), _start_worker(project)]
    runtime = _runtime(project, tier)
    try:
        async with runtime:
            for _ in range(600):  # until both processes registered their reviewer
                live = await runtime.agents.list(name="reviewer")
                if len(live) == 2:
                    break
                dead = [p for p in processes if p.poll() is not None]
                assert not dead, _logs(project)
                await asyncio.sleep(0.2)
            else:
                pytest.fail("the workers did not register:\n" + _logs(project))
            yield runtime, processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _logs(project: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in project.parent.glob("worker-*.log"))


async def test_a_claude_code_agent_file_runs_in_worker_processes(
    workers: tuple[Runtime, list[subprocess.Popen[str]]], model: FakeOpenAI, project: Path
) -> None:
    runtime, _ = workers
    model.replies = [SUBMIT]
    live = {instance.instance_id for instance in await runtime.agents.list(name="reviewer")}
    result = await dispatch(runtime, "Review calc.py", agent="reviewer", timeout=180)
    trace = await TraceStore(runtime).load(result.run_id or "")

    assert result.ok, (result.error, _logs(project))
    assert result.answer == "add() subtracts"
    assert result.worker in live
    assert trace is not None
    assert trace.metadata["agent"] == "reviewer"
    # The file's body is the agent's instructions; its tools are the mapped read tools only.
    system = str(model.requests[0]["messages"][0]["content"])
    assert "You are REVIEWER-7" in system
    tools = trace.of_kind("run_start")[0]["tools"]
    assert isinstance(tools, list)
    assert "fs_read" in tools
    assert "fs_write" not in tools
    assert "delegate" not in tools


async def test_a_worker_killed_mid_task_loses_nothing(
    workers: tuple[Runtime, list[subprocess.Popen[str]]], model: FakeOpenAI, project: Path
) -> None:
    runtime, _ = workers
    model.replies = [
        format_fields({"reasoning": "Think long.", "code": "import time\ntime.sleep(20)"}),
        SUBMIT,
    ]
    task_id = uuid.uuid4().hex
    waiting = asyncio.create_task(
        dispatch(runtime, "Review calc.py", agent="reviewer", timeout=180, task_id=task_id)
    )
    started = None
    for _ in range(900):
        started = await runtime.state.get(started_key(task_id))
        if started is not None and model.requests:
            break
        await asyncio.sleep(0.1)
    assert started is not None, _logs(project)
    assert isinstance(started.value, dict)
    first = started.value
    os.kill(int(first["pid"]), signal.SIGKILL)  # type: ignore[arg-type]

    result = await waiting
    task = await runtime.tasks.get(queue_of("reviewer"), task_id)

    assert result.ok, (result.error, _logs(project))
    assert result.answer == "add() subtracts"
    assert result.worker != first["worker"]
    assert task is not None
    # Leased again after the kill; on a loaded machine a lease may lapse once more before the
    # survivor extends it (at-least-once), so more than two attempts is not a failure.
    assert task.attempts >= 2
    assert len(model.requests) >= 2
