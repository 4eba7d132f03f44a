"""TaskQueue retention conformance: finished tasks are dropped after ``task_retention``.

The protocol keeps completed and dead tasks inspectable for a backend-defined retention
period (every backend takes ``task_retention``, one day by default) and then lets them go:
``get`` no longer finds them, ``dead`` no longer lists them, and ``enqueue`` with the same
``task_id`` adds a new task. Tasks that are not finished (pending, delayed, leased) are never
dropped, however long they wait. *When* an expired task disappears is the tier's business (at
once on the servers, at the next clean-up on SQLite, at the next call on its queue in memory),
so these tests wait for it rather than time it.

The tiers are the conftest's, built with a short ``task_retention`` (this module overrides
that fixture).
"""

from __future__ import annotations

import time

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.protocols import TaskStatus
from memfun_runtime.testing import eventually

RETENTION = 1.0  # seconds finished tasks are kept in these tests
WAIT = 30.0  # generous upper bound for the expiry to be observed


@pytest.fixture
def task_retention() -> float:
    return RETENTION


async def _wait_until_forgotten(backend: Backend, queue: str, task_id: str) -> None:
    """Re-enqueue ``task_id`` until that adds a new task: the finished one expired."""

    async def replaced() -> bool:
        await backend.tasks.enqueue(queue, "again", task_id=task_id)
        task = await backend.tasks.get(queue, task_id)
        # None: the finished task expired between the enqueue (which still saw it, so added
        # nothing) and the get; the next enqueue adds the new one.
        return task is not None and task.status is TaskStatus.PENDING

    await eventually(replaced, within=WAIT, interval=0.05, what=f"task {task_id} to expire")


async def test_finished_tasks_expire_after_the_retention(backend: Backend) -> None:
    tasks = backend.tasks
    await tasks.enqueue("q", "fatal", task_id="dead-1", max_attempts=1)
    got = await tasks.lease("q", wait=WAIT)
    assert got is not None
    await tasks.fail(got, "bad input", retry=False)
    await tasks.enqueue("q", "work", task_id="done-1")
    got = await tasks.lease("q", wait=WAIT)
    assert got is not None
    finishing = time.monotonic()
    await tasks.complete(got, {"lines": 3})
    task = await tasks.get("q", "done-1")
    assert await tasks.enqueue("q", "duplicate", task_id="done-1") == "done-1"
    reread = await tasks.get("q", "done-1")
    if time.monotonic() - finishing < RETENTION:  # every read within the retention
        assert task is not None
        assert (task.status, task.result) == (TaskStatus.COMPLETED, {"lines": 3})
        assert reread == task  # the enqueue above added nothing

    await _wait_until_forgotten(backend, "q", "done-1")

    fresh = await tasks.get("q", "done-1")
    assert fresh is not None
    assert (fresh.payload, fresh.attempts, fresh.result) == ("again", 0, None)
    # "dead-1" finished before "done-1", so it is gone too.
    assert await tasks.get("q", "dead-1") is None
    assert await tasks.dead("q") == []
    again = await tasks.lease("q", wait=WAIT)
    assert again is not None
    assert (again.task_id, again.payload, again.attempt) == ("done-1", "again", 1)
    await tasks.complete(again, "second run")
    task = await tasks.get("q", "done-1")
    assert task is not None
    assert (task.status, task.result) == (TaskStatus.COMPLETED, "second run")


async def test_unfinished_tasks_outlive_the_retention(backend: Backend) -> None:
    tasks = backend.tasks
    await tasks.enqueue("q", "long job", task_id="leased-1")
    held = await tasks.lease("q", visibility_timeout=600, wait=WAIT)
    assert held is not None
    await tasks.enqueue("q", "later", task_id="delayed-1", delay=3 * RETENTION)
    await tasks.enqueue("q", "flaky", task_id="retry-1", backoff=3 * RETENTION)
    flaky = await tasks.lease("q", wait=WAIT)
    assert flaky is not None
    assert flaky.task_id == "retry-1"
    await tasks.fail(flaky, "try again")  # pending, backing off
    await tasks.enqueue("q", "quick", task_id="marker")
    quick = await tasks.lease("q", wait=WAIT)
    assert quick is not None
    assert quick.task_id == "marker"
    await tasks.complete(quick)

    await _wait_until_forgotten(backend, "q", "marker")  # expiry ran on this queue

    leased = await tasks.get("q", "leased-1")
    assert leased is not None
    assert leased.status is TaskStatus.LEASED
    for waiting in ("delayed-1", "retry-1"):
        task = await tasks.get("q", waiting)
        assert task is not None
        assert task.status is TaskStatus.PENDING
    await tasks.complete(held, "finally")
    task = await tasks.get("q", "leased-1")
    assert task is not None
    assert (task.status, task.result) == (TaskStatus.COMPLETED, "finally")
    payloads = set()
    for _ in range(3):  # the two waiting tasks, and the marker enqueued again
        got = await tasks.lease("q", wait=WAIT)
        assert got is not None
        payloads.add(got.payload)
        await tasks.complete(got)
    assert payloads == {"later", "flaky", "again"}
