"""Orchestration overhead (20 nodes) and the speed-up with 2 agent workers, scripted model.

Every node is the same one-step agent task; its model call is scripted to take
``LATENCY`` seconds (the model is what is slow in a real run; everything else is real: the
RLM agent, its sandbox, the task queue, the DefinedAgents, the traces). Rows, measured in the
same run:

* baseline: the 20 tasks one after another in one process, each ``RLMAgent.run`` directly;
* ``memfun orchestrate`` in process on T1 (SQLite): planner, 20 independent nodes through
  ``dispatch`` to one DefinedAgent (concurrency 1, so one node at a time), merge, one trace:
  the difference to the baseline is the orchestration's overhead;
* the same plan given to 2 agent worker processes on T2 (Redis; SQLite when no Redis
  answers): the speed-up.

The planner and merge calls are scripted to answer at once (their model time is not
orchestration overhead). Median of ``RUNS``.

Run: uv run python benchmarks/orchestrator.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from memfun_agent import RLMAgent
from memfun_agent.definitions import AgentDefinition
from memfun_agent.dispatch import AgentSetup, defined_agent
from memfun_agent.orchestrate import DispatchRunner, OrchestrationLimits, Orchestrator
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_agent.traces import TraceStore
from memfun_runtime import RuntimeBuilder
from memfun_runtime._backend import Backend

NODES, LATENCY, RUNS = 20, 0.25, 3
AGENT = AgentDefinition("bench", "Does one small task", model="scripted/bench")
PLAN = {
    "reasoning": "independent parts",
    "plan": [{"id": f"n{i}", "agent": "bench", "task": f"part {i}"} for i in range(NODES)],
}
MERGE = {"reasoning": "merge", "answer": "all parts done", "complete": True, "gaps": ""}

logging.getLogger("dspy").setLevel(logging.ERROR)
logging.getLogger("memfun_runtime").setLevel(logging.ERROR)


def node_lm() -> ScriptedLM:
    def reply(_prompt: str) -> dict[str, str]:
        time.sleep(LATENCY)
        return {"reasoning": "done", "code": "SUBMIT(answer='ok', summary='')"}

    return ScriptedLM([reply], model="scripted/bench", repeat_last=True)


def setup(workspace: Path) -> AgentSetup:
    lm = node_lm()
    return AgentSetup(
        workspace=workspace,
        lm=lambda _model: lm,
        tools=ToolBridge,
        agent_options={"verifier": None},
        store_traces=True,
    )


async def baseline(workspace: Path) -> None:
    agent = RLMAgent(workspace, lm=node_lm(), bridge=ToolBridge(), verifier=None)
    for i in range(NODES):
        result = await agent.run(f"part {i}")
        assert result.completed, result.error


async def orchestrated(backend: Backend, *, local: bool, workspace: Path) -> None:
    builder = RuntimeBuilder().backend(backend)
    if local:
        builder.agent(defined_agent(AGENT, setup(workspace)))
    async with builder.build() as runtime:
        await orchestrate(runtime)


async def orchestrate(runtime: Any) -> None:
    run_id = uuid.uuid4().hex
    orchestrator = Orchestrator(
        [AGENT],
        DispatchRunner(runtime, run_id=run_id),
        lm=ScriptedLM([PLAN, MERGE]),
        limits=OrchestrationLimits(max_nodes=NODES),
        traces=TraceStore(runtime),
    )
    result = await orchestrator.run("do the 20 parts", run_id=run_id)
    assert result.completed, result.error


def shared_backend(folder: Path, namespace: str) -> tuple[str, Backend]:
    from memfun_runtime.backends.redis.testing import redis_answers, redis_url

    if redis_answers(redis_url()):
        from memfun_runtime.backends.redis import RedisBackend

        return "redis", RedisBackend(redis_url(), namespace=namespace)
    from memfun_runtime.backends.sqlite import SQLiteBackend

    return "sqlite", SQLiteBackend(folder / "shared.db")


async def worker(argv: list[str]) -> None:
    """``--worker FOLDER NAMESPACE``: serve the bench agent until SIGTERM."""
    folder, namespace = Path(argv[0]), argv[1]
    _, backend = shared_backend(folder, namespace)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runtime = RuntimeBuilder().backend(backend).agent(defined_agent(AGENT, setup(folder))).build()
    async with runtime:
        await stop.wait()


async def with_workers(folder: Path) -> tuple[str, Callable[[], Awaitable[None]], Any]:
    namespace = "bench" + uuid.uuid4().hex[:12]
    tier, backend = shared_backend(folder, namespace)
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", str(folder), namespace])  # noqa: ASYNC220
        for _ in range(2)
    ]
    runtime = RuntimeBuilder().backend(backend).build()
    await runtime.start()
    while len(await runtime.agents.list(name="bench")) < 2:  # noqa: ASYNC110 - polls the registry
        await asyncio.sleep(0.2)

    async def run() -> None:
        await orchestrate(runtime)

    async def close() -> None:
        await runtime.stop()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        if tier == "redis":
            from memfun_runtime.backends.redis.testing import purge_namespace

            purge_namespace(namespace)

    return tier, run, close


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def main() -> None:
    from memfun_runtime.backends.sqlite import SQLiteBackend

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "main.py").write_text("print('hello')\n")
        tier, on_workers, close = await with_workers(folder)
        samples: dict[str, list[float]] = {"base": [], "local": [], "workers": []}
        try:
            for round_ in range(RUNS + 1):  # the first round warms up imports and caches
                db = folder / f"local{round_}.db"
                times = {
                    "base": await timed(lambda: baseline(folder)),
                    "local": await timed(
                        lambda db=db: orchestrated(SQLiteBackend(db), local=True, workspace=folder)
                    ),
                    "workers": await timed(on_workers),
                }
                if round_:
                    for key, value in times.items():
                        samples[key].append(value)
        finally:
            await close()
    base, local, workers = (statistics.median(samples[k]) for k in ("base", "local", "workers"))
    print(f"{NODES} one-step nodes, model latency {LATENCY * 1000:.0f} ms each (median of {RUNS})")
    print(f"{'configuration':<58} {'seconds':>8} {'per node':>9} {'vs base':>8}")
    rows = [
        ("baseline: RLMAgent.run one after another, one process", base),
        ("orchestrated, T1 in process, 1 DefinedAgent", local),
        (f"orchestrated, T{2 if tier == 'redis' else 1} ({tier}), 2 worker processes", workers),
    ]
    for label, seconds in rows:
        print(
            f"{label:<58} {seconds:>8.2f} {seconds / NODES * 1000:>7.0f}ms {seconds / base:>7.2f}x"
        )
    print(f"orchestration overhead per node: {(local - base) / NODES * 1000:.0f} ms; "
          f"speed-up with 2 workers: {base / workers:.2f}x")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        asyncio.run(worker(sys.argv[2:]))
    else:
        asyncio.run(main())
