"""TaskQueue conformance: priorities, delays, leases, expiry, retries with backoff, dead tasks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime._backend import Backend
from memfun_runtime.protocols import Lease, TaskStatus

SHORT = 0.2  # lease / delay / backoff length that keeps the tests fast
WAIT = 5.0  # generous upper bound when waiting for something that must happen


async def lease(backend: Backend, queue: str = "q", **kwargs: Any) -> Lease:
    kwargs.setdefault("visibility_timeout", 30)
    kwargs.setdefault("wait", WAIT)
    got = await backend.tasks.lease(queue, **kwargs)
    assert got is not None
    return got


class LeaseAndComplete:
    async def test_enqueue_lease_complete(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", {"file": "a.py"})
        got = await lease(backend)
        assert (got.task_id, got.queue, got.payload) == (task_id, "q", {"file": "a.py"})
        assert (got.attempt, got.max_attempts) == (1, 3)
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert task.status is TaskStatus.LEASED
        await backend.tasks.complete(got, {"lines": 3})
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.status, task.result, task.attempts) == (TaskStatus.COMPLETED, {"lines": 3}, 1)
        assert await backend.tasks.lease("q") is None
        with pytest.raises(ConflictError):
            await backend.tasks.complete(got)

    async def test_an_empty_queue_gives_none(self, backend: Backend) -> None:
        assert await backend.tasks.lease("q") is None
        assert await backend.tasks.lease("q", wait=0.05) is None
        assert await backend.tasks.get("q", "nope") is None

    async def test_a_waiting_lease_gets_a_task_enqueued_meanwhile(self, backend: Backend) -> None:
        waiting = asyncio.create_task(backend.tasks.lease("q", wait=WAIT))
        await asyncio.sleep(0.05)
        task_id = await backend.tasks.enqueue("q", "late")
        got = await waiting
        assert got is not None
        assert got.task_id == task_id

    async def test_queues_are_separate(self, backend: Backend) -> None:
        await backend.tasks.enqueue("a", 1)
        assert await backend.tasks.lease("b") is None
        assert (await lease(backend, "a")).payload == 1

    async def test_concurrent_workers_each_get_distinct_tasks(self, backend: Backend) -> None:
        ids = {await backend.tasks.enqueue("q", i) for i in range(20)}

        async def worker() -> list[str]:
            done = []
            while (got := await backend.tasks.lease("q", visibility_timeout=30)) is not None:
                done.append(got.task_id)
                await backend.tasks.complete(got)
            return done

        results = await asyncio.gather(*(worker() for _ in range(5)))
        flat = [task_id for done in results for task_id in done]
        assert sorted(flat) == sorted(ids)  # every task exactly once

    async def test_enqueue_with_a_task_id_is_idempotent(self, backend: Backend) -> None:
        first = await backend.tasks.enqueue("q", "v1", task_id="job-1")
        second = await backend.tasks.enqueue("q", "v2", task_id="job-1")
        assert first == second == "job-1"
        got = await lease(backend)
        assert got.payload == "v1"
        await backend.tasks.complete(got)
        assert await backend.tasks.enqueue("q", "v3", task_id="job-1") == "job-1"
        assert await backend.tasks.lease("q") is None


class PriorityAndDelay:
    async def test_higher_priority_first_then_fifo(self, backend: Backend) -> None:
        for name, priority in [("low1", 0), ("high1", 9), ("mid", 5), ("high2", 9), ("low2", 0)]:
            await backend.tasks.enqueue("q", name, priority=priority)
        order = []
        for _ in range(5):
            got = await lease(backend)
            order.append(got.payload)
            await backend.tasks.complete(got)
        assert order == ["high1", "high2", "mid", "low1", "low2"]

    async def test_a_delayed_task_waits_for_its_delay(self, backend: Backend) -> None:
        delayed = await backend.tasks.enqueue("q", "later", delay=SHORT)
        await backend.tasks.enqueue("q", "now")
        assert (await lease(backend, wait=0)).payload == "now"
        assert await backend.tasks.lease("q") is None
        got = await lease(backend)
        assert got.task_id == delayed
        task = await backend.tasks.get("q", delayed)
        assert task is not None
        assert task.available_at >= task.enqueued_at + SHORT * 0.99

    async def test_a_long_delay_is_not_leased_early(self, backend: Backend) -> None:
        await backend.tasks.enqueue("q", "tomorrow", delay=3600, priority=9)
        await backend.tasks.enqueue("q", "today")
        assert (await lease(backend)).payload == "today"
        assert await backend.tasks.lease("q", wait=0.1) is None


class LeaseExpiry:
    async def test_an_expired_lease_makes_the_task_available_again(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "work")
        dead_worker = await lease(backend, visibility_timeout=SHORT)
        survivor = await lease(backend, visibility_timeout=30)
        assert survivor.task_id == task_id
        assert survivor.attempt == 2
        assert survivor.token != dead_worker.token
        with pytest.raises(ConflictError):
            await backend.tasks.complete(dead_worker, "late result")
        with pytest.raises(ConflictError):
            await backend.tasks.fail(dead_worker, "late failure")
        await backend.tasks.complete(survivor, "ok")
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.status, task.result) == (TaskStatus.COMPLETED, "ok")

    async def test_a_lapsed_lease_not_yet_taken_can_still_complete(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "work")
        got = await lease(backend, visibility_timeout=SHORT)
        await asyncio.sleep(SHORT * 1.5)
        await backend.tasks.complete(got)
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert task.status is TaskStatus.COMPLETED
        assert await backend.tasks.lease("q") is None

    async def test_extend_keeps_the_task_leased(self, backend: Backend) -> None:
        await backend.tasks.enqueue("q", "long job")
        got = await lease(backend, visibility_timeout=SHORT)
        extended = await backend.tasks.extend(got, 30)
        assert extended.token == got.token
        assert extended.expires_at > got.expires_at
        await asyncio.sleep(SHORT * 1.5)
        assert await backend.tasks.lease("q") is None
        await backend.tasks.complete(extended)

    async def test_expiring_on_the_last_attempt_makes_the_task_dead(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "hangs", max_attempts=1)
        got = await lease(backend, visibility_timeout=SHORT)
        assert got.attempt == 1
        await asyncio.sleep(SHORT * 1.5)
        assert await backend.tasks.lease("q") is None
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.status, task.last_error) == (TaskStatus.DEAD, "lease expired")
        assert [t.id for t in await backend.tasks.dead("q")] == [task_id]


class RetryAndDead:
    async def test_fail_retries_with_exponential_backoff_then_dies(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "flaky", max_attempts=3, backoff=SHORT / 2)
        attempts = []
        for _ in range(3):
            got = await lease(backend)
            attempts.append(got.attempt)
            await backend.tasks.fail(got, f"boom {got.attempt}")
            if got.attempt < 3:
                task = await backend.tasks.get("q", task_id)
                assert task is not None
                assert task.status is TaskStatus.PENDING
                backoff = (SHORT / 2) * 2 ** (got.attempt - 1)
                assert task.available_at >= task.enqueued_at + backoff
                assert await backend.tasks.lease("q") is None  # still backing off
        assert attempts == [1, 2, 3]
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.status, task.attempts, task.last_error) == (TaskStatus.DEAD, 3, "boom 3")
        dead = await backend.tasks.dead("q")
        assert [(t.id, t.payload) for t in dead] == [(task_id, "flaky")]
        assert await backend.tasks.lease("q", wait=SHORT) is None

    async def test_fail_without_retry_is_dead_at_once(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "fatal", max_attempts=5)
        got = await lease(backend)
        await backend.tasks.fail(got, "bad input", retry=False)
        task = await backend.tasks.get("q", task_id)
        assert task is not None
        assert (task.status, task.attempts) == (TaskStatus.DEAD, 1)
        with pytest.raises(ConflictError):
            await backend.tasks.complete(got)

    async def test_the_first_retry_waits_the_backoff(self, backend: Backend) -> None:
        task_id = await backend.tasks.enqueue("q", "x", max_attempts=5, backoff=100)
        got = await lease(backend)
        await backend.tasks.fail(got, "first")
        first = await backend.tasks.get("q", task_id)
        assert first is not None
        assert 99 <= first.available_at - first.enqueued_at < 200
        assert await backend.tasks.lease("q") is None

    async def test_dead_lists_only_dead_tasks_oldest_first(self, backend: Backend) -> None:
        ids = [await backend.tasks.enqueue("q", i, max_attempts=1) for i in range(3)]
        await backend.tasks.enqueue("q", "alive", priority=0, delay=3600)
        for _ in range(3):
            await backend.tasks.fail(await lease(backend), "no", retry=False)
        assert [t.id for t in await backend.tasks.dead("q")] == ids
        assert [t.id for t in await backend.tasks.dead("q", limit=2)] == ids[:2]


class BadTaskInput:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"priority": 10}, "priority"),
            ({"priority": -1}, "priority"),
            ({"delay": -1}, "delay"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"backoff": -0.1}, "backoff"),
            ({"task_id": "a b"}, "task_id"),
        ],
    )
    async def test_bad_enqueue_arguments_are_refused(
        self, backend: Backend, kwargs: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(ValidationError) as info:
            await backend.tasks.enqueue("q", 1, **kwargs)
        assert info.value.field == field
        assert await backend.tasks.lease("q") is None

    async def test_bad_names_payloads_and_timeouts_are_refused(self, backend: Backend) -> None:
        with pytest.raises(ValidationError):
            await backend.tasks.enqueue("bad queue", 1)
        with pytest.raises(ValidationError):
            await backend.tasks.enqueue("q", object())
        with pytest.raises(ValidationError):
            await backend.tasks.lease("q", visibility_timeout=0)
        with pytest.raises(ValidationError):
            await backend.tasks.lease("q", wait=-1)
        await backend.tasks.enqueue("q", 1)
        got = await lease(backend)
        with pytest.raises(ValidationError):
            await backend.tasks.extend(got, -5)
        with pytest.raises(ValidationError):
            await backend.tasks.complete(got, {"x": object()})
        await backend.tasks.complete(got)


class TestTaskQueue(LeaseAndComplete, PriorityAndDelay, LeaseExpiry, RetryAndDead, BadTaskInput):
    """Runs every TaskQueue behaviour on every tier."""
