"""Orchestrated runs through ``dispatch`` on real DefinedAgents: T1 in this process, T2 and T3
with the agents in two worker processes, and a worker SIGKILLed in the middle of a node.

Only the models are scripted (see ``_agents.py``): the two branches complete only when they
run at the same time, wherever they run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_agent.orchestrate import DispatchRunner, OrchestrationResult, Orchestrator
from memfun_agent.testing import ScriptedLM
from memfun_agent.traces import TraceStore
from memfun_runtime import Runtime, RuntimeBuilder
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.testing import eventually

from ._agents import DEFINITIONS, PLAN, agent_classes, backend_for

pytestmark = [pytest.mark.usefixtures("sandbox_ok"), pytest.mark.slow]

WORKER = Path(__file__).parent / "agent_worker.py"


def planner_lm() -> ScriptedLM:
    return ScriptedLM(
        [
            {"reasoning": "two independent parts, then a review", "plan": PLAN},
            {"reasoning": "merge", "answer": "merged", "complete": True, "gaps": ""},
        ]
    )


async def orchestrate(runtime: Runtime, lm: ScriptedLM) -> OrchestrationResult:
    run_id = uuid.uuid4().hex
    orchestrator = Orchestrator(
        DEFINITIONS,
        DispatchRunner(runtime, run_id=run_id, timeout=300),
        lm=lm,
        traces=TraceStore(runtime),
    )
    return await orchestrator.run("Explain and fix calc.py", run_id=run_id)


async def check_run(runtime: Runtime, result: OrchestrationResult) -> None:
    """Completed; branches overlapped; the join got both results; traces linked; cost summed."""
    assert result.outcome == "completed", result.error
    by_id = {n.node.id: n for n in result.nodes}
    assert by_id["left"].answer.startswith("left by explorer in ")
    assert by_id["right"].answer.startswith("right by coder in ")
    assert by_id["join"].answer == f"joined: {by_id['left'].answer} + {by_id['right'].answer}"
    trace = result.trace
    order = [
        (r["kind"], r["node"]) for r in trace.records if r["kind"] in ("node_start", "node_end")
    ]
    starts = [order.index(("node_start", b)) for b in ("left", "right")]
    ends = [order.index(("node_end", b)) for b in ("left", "right")]
    assert max(starts) < min(ends)
    assert order.index(("node_start", "join")) > max(ends)
    store = TraceStore(runtime)
    stored = await store.load(result.run_id)
    assert stored is not None
    assert stored.metadata["children"] == [r for n in result.nodes for r in n.run_ids]
    child_tokens = 0
    for node in result.nodes:
        (attempt,) = node.attempts
        assert attempt.worker
        child = await store.load(str(attempt.run_id))
        assert child is not None
        assert child.metadata["parent_run_id"] == result.run_id
        assert child.metadata["agent"] == node.agent
        child_tokens += int(str(child.usage["tokens"]))
    assert result.tokens == int(str(stored.usage["orchestrator_tokens"])) + child_tokens


async def test_a_diamond_runs_on_t1_in_process_with_parallel_branches(
    repo: Path, tmp_path: Path
) -> None:
    builder = RuntimeBuilder().sqlite(tmp_path / "runtime.db")
    for cls in agent_classes(repo, tmp_path):
        builder = builder.agent(cls)
    async with builder.build() as runtime:
        result = await orchestrate(runtime, planner_lm())
        await check_run(runtime, result)
    workers = {a.worker for n in result.nodes for a in n.attempts}
    assert len(workers) == 3  # one DefinedAgent instance per agent, all in this process


SHARED_TIERS = [
    pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    pytest.param("nats", marks=pytest.mark.nats, id="nats"),
]


@pytest.fixture
def namespace(tmp_path: Path) -> str:
    return redis_testing.namespace_for(f"{tmp_path}/{uuid.uuid4().hex}")


@pytest.fixture
def tier(request: pytest.FixtureRequest, namespace: str) -> Iterator[str]:
    name: str = request.param
    reason = (
        redis_testing.redis_skip_reason() if name == "redis" else nats_testing.nats_skip_reason()
    )
    if reason is not None:
        pytest.skip(reason)
    yield name
    if name == "redis":
        redis_testing.purge_namespace(namespace)
    else:
        nats_testing.purge_namespaces([namespace])


class Workers:
    """Two agent worker processes; killed at the end whatever happens."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str]) -> None:
        index = len(self.procs)
        with (self.folder / f"worker{index}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), *argv], stdout=log, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)

    def by_pid(self, pid: int) -> subprocess.Popen[bytes]:
        return next(p for p in self.procs if p.pid == pid)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for index in range(len(self.procs)):
            print((self.folder / f"worker{index}.log").read_text(errors="replace"))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    yield group
    group.close()


async def start_workers(
    workers: Workers, runtime: Runtime, argv: list[str], *, stall: bool = False
) -> None:
    for _ in range(2):
        workers.spawn([*argv, "--stall"] if stall else argv)

    async def all_live() -> bool:
        for definition in DEFINITIONS:
            if len(await runtime.agents.list(name=definition.name)) < 2:
                return False
        return True

    await eventually(all_live, within=120, interval=0.2, what="2 workers of each agent")


@pytest.mark.parametrize("tier", SHARED_TIERS, indirect=True)
async def test_a_diamond_runs_on_two_worker_processes(
    tier: str, namespace: str, repo: Path, tmp_path: Path, workers: Workers
) -> None:
    argv = [tier, namespace, str(repo), str(tmp_path)]
    async with RuntimeBuilder().backend(backend_for(tier, namespace, tmp_path)).build() as runtime:
        await start_workers(workers, runtime, argv)
        result = await orchestrate(runtime, planner_lm())
        await check_run(runtime, result)
    pids = {int(n.answer.rsplit(" ", 1)[1]) for n in result.nodes if n.node.id != "join"}
    assert pids <= {p.pid for p in workers.procs}


@pytest.mark.parametrize("tier", SHARED_TIERS, indirect=True)
async def test_a_worker_killed_mid_node_leaves_the_node_to_the_other_and_the_run_completes(
    tier: str, namespace: str, repo: Path, tmp_path: Path, workers: Workers
) -> None:
    argv = [tier, namespace, str(repo), str(tmp_path)]
    marker = tmp_path / "stalled"
    async with RuntimeBuilder().backend(backend_for(tier, namespace, tmp_path)).build() as runtime:
        await start_workers(workers, runtime, argv, stall=True)
        run = asyncio.create_task(orchestrate(runtime, planner_lm()))

        async def stalled() -> bool:
            return marker.exists() and marker.read_text().strip() != ""

        await eventually(stalled, within=120, interval=0.1, what="a worker stalled mid-node")
        victim = workers.by_pid(int(marker.read_text()))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        result = await run
        await check_run(runtime, result)
    right = next(n for n in result.nodes if n.node.id == "right")
    survivor = int(right.answer.rsplit(" ", 1)[1])
    assert survivor != victim.pid
    assert survivor in {p.pid for p in workers.procs}
