"""Distributed workers: 3 ``python -m memfun_runtime.worker`` processes share one queue.

One worker is SIGKILLed in the middle of a task. Every task must still complete, and the
application must observe each task's effect exactly once (at-least-once delivery plus
idempotent completion), on every tier that several processes can share.

The tiers and the ``tier``, ``namespace``, ``backend`` and ``tier_args`` fixtures are in
``conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.protocols import TaskStatus
from memfun_runtime.testing import eventually
from memfun_runtime.worker import done_key

HANDLER = Path(__file__).parent / "handler.py"
CAPABILITY = "squares"
QUEUE = f"tasks.{CAPABILITY}"
TASKS = 30


class Workers:
    """Worker processes of one test; all are killed at the end whatever happens."""

    def __init__(self, tier_args: list[str], folder: Path) -> None:
        self.base = [
            sys.executable, "-m", "memfun_runtime.worker", *tier_args,
            "--capability", CAPABILITY, "--handler", f"{HANDLER}:handle",
            "--visibility-timeout", "1.0", "--concurrency", "2", "--log-level", "INFO",
        ]  # fmt: skip
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *, stall: bool = False) -> subprocess.Popen[bytes]:
        env = {**os.environ, "MEMFUN_TEST_STALL": "1" if stall else "0"}
        with (self.folder / f"worker{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen(self.base, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> list[int]:
        codes: list[int] = []
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                codes.append(proc.wait(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes

    def logs(self) -> str:
        """Every worker's log (pytest shows it when the test fails)."""
        parts = []
        for index, proc in enumerate(self.procs):
            text = (self.folder / f"worker{index}.log").read_text(errors="replace")
            parts.append(f"--- worker{index} (pid {proc.pid}, exit {proc.poll()}) ---\n{text}")
        return "\n".join(parts)


@pytest.fixture
def workers(tier_args: list[str], tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tier_args, tmp_path)
    try:
        yield group
    finally:
        for proc in group.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        print(group.logs())  # captured: shown only for a failed test


async def test_every_task_completes_once_when_a_worker_is_killed_mid_task(
    backend: Backend, workers: Workers
) -> None:
    victim = workers.spawn(stall=True)
    survivors = [workers.spawn(), workers.spawn()]

    async def all_registered() -> bool:
        return len(await backend.agents.find(CAPABILITY)) == 3

    await eventually(all_registered, within=60, what="3 workers in the registry")
    for n in range(TASKS):
        await backend.tasks.enqueue(QUEUE, {"n": n}, task_id=f"job-{n}", max_attempts=5)

    async def victim_busy() -> bool:
        return await backend.state.get(f"app.current.{victim.pid}") is not None

    await eventually(victim_busy, within=60, what="the stalling worker to take a task")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    entry = await backend.state.get(f"app.current.{victim.pid}")
    assert entry is not None
    interrupted: str = entry.value

    async def all_completed() -> bool:
        for n in range(TASKS):
            task = await backend.tasks.get(QUEUE, f"job-{n}")
            if task is None or task.status is not TaskStatus.COMPLETED:
                return False
        return True

    await eventually(all_completed, within=90, interval=0.1, what="every task to complete")

    survivor_pids = {p.pid for p in survivors}
    for n in range(TASKS):
        task_id = f"job-{n}"
        task = await backend.tasks.get(QUEUE, task_id)
        assert task is not None
        assert task.result["n"] == n
        assert task.result["square"] == n * n
        assert task.result["by"] in survivor_pids
        effect = await backend.state.get(f"app.effect.{task_id}")  # observed exactly once:
        assert effect is not None
        assert effect.value == task.result  # the one effect is the completed result
        done = await backend.state.get(done_key(QUEUE, task_id))
        assert done is not None
        assert done.value == task.result
    # The killed worker's task ran again elsewhere (at-least-once delivery) ...
    retried = await backend.tasks.get(QUEUE, interrupted)
    assert retried is not None
    assert retried.attempts >= 2
    runs = await backend.state.get(f"app.runs.{interrupted}")
    assert runs is not None
    assert runs.value >= 2
    # ... and nothing is left to do or dead.
    assert await backend.tasks.lease(QUEUE, wait=0) is None
    assert await backend.tasks.dead(QUEUE) == []
    assert workers.stop_all()[1:] == [0, 0]  # survivors stop cleanly on SIGTERM
