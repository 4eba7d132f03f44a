"""T3's task queue internals: finished records leave ``<ns>_tasks``, crashes between steps heal.

The conformance suite checks what every tier promises; these tests check how T3 keeps those
promises when a process dies between two of its server calls, by doing the first call by hand
(through the queue's own record methods) and leaving the second undone.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from nats.js.api import DeliverPolicy

from memfun_runtime.backends.nats import NatsBackend
from memfun_runtime.backends.nats._pull import Puller, reader_config
from memfun_runtime.backends.nats._tasks import NatsTaskQueue
from memfun_runtime.backends.nats.testing import PrivateNats
from memfun_runtime.protocols import TaskStatus
from memfun_runtime.testing import eventually

WAIT = 10.0


@pytest.fixture
async def backend(private_nats: PrivateNats) -> AsyncIterator[NatsBackend]:
    instance = NatsBackend(private_nats.url, namespace="tq")
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _queue(backend: NatsBackend) -> NatsTaskQueue:
    return cast("NatsTaskQueue", backend.tasks)


async def _keys(queue: NatsTaskQueue, *, finished: bool = False) -> list[str]:
    bucket = queue.finished if finished else queue.records
    return sorted([key async for key, _, _ in bucket.items()])


async def test_finished_records_leave_the_records_bucket(backend: NatsBackend) -> None:
    queue = _queue(backend)
    for n in range(3):
        await queue.enqueue("q", n, task_id=f"ok-{n}")
    await queue.enqueue("q", "bad", task_id="bad", max_attempts=1)
    await queue.enqueue("q", "later", task_id="later", delay=3600)
    for _ in range(4):
        got = await queue.lease("q", wait=WAIT)
        assert got is not None
        if got.payload == "bad":
            await queue.fail(got, "no")
        else:
            await queue.complete(got, got.payload)

    assert await _keys(queue) == [queue.key("q", "later")]  # only the unfinished task
    done = await _keys(queue, finished=True)
    expected = [queue.finished_key("q", f"ok-{n}", "completed") for n in range(3)]
    assert done == sorted([*expected, queue.finished_key("q", "bad", "dead")])
    for n in range(3):
        task = await queue.get("q", f"ok-{n}")
        assert task is not None
        assert (task.status, task.result) == (TaskStatus.COMPLETED, n)
    assert [t.id for t in await queue.dead("q")] == ["bad"]
    assert await queue.enqueue("q", "again", task_id="ok-0") == "ok-0"  # still retained
    assert await _keys(queue) == [queue.key("q", "later")]


async def test_a_retirement_cut_short_is_finished_by_the_checker(backend: NatsBackend) -> None:
    queue = _queue(backend)
    await queue.enqueue("q", "work", task_id="t1")
    got = await queue.lease("q", visibility_timeout=0.3, wait=WAIT)
    assert got is not None
    # complete() as far as its first write: the process dies before moving the record.
    found = await queue.load("q", "t1")
    assert found is not None
    record, revision = found
    record.status, record.result, record.token = TaskStatus.COMPLETED.value, "r", None
    assert await queue.save(record, revision) is not None
    task = await queue.get("q", "t1")
    assert task is not None
    assert task.status is TaskStatus.COMPLETED

    async def moved() -> bool:  # the lease's check message fires at its expiry
        return await _keys(queue) == []

    await eventually(moved, within=WAIT, what="the checker to retire the record")
    task = await queue.get("q", "t1")
    assert task is not None
    assert (task.status, task.result) == (TaskStatus.COMPLETED, "r")
    assert await queue.lease("q", wait=0.5) is None


async def test_a_lease_whose_expiry_was_never_scheduled_is_not_stranded(
    backend: NatsBackend,
) -> None:
    queue = _queue(backend)
    await queue.enqueue("q", "work", task_id="t1")
    # A worker took the task (its revision-checked write landed) and was killed before it
    # published the lease's check message and acked the ready message.
    found = await queue.load("q", "t1")
    assert found is not None
    record, revision = found
    changes: dict[str, Any] = {"status": TaskStatus.LEASED.value, "attempts": 1}
    changes |= {"token": "dead-worker", "expires_at": time.time() + 0.5}
    for name, value in changes.items():
        setattr(record, name, value)
    assert await queue.save(record, revision) is not None

    # JetStream redelivers the unacked ready message; the task must come back at the expiry.
    got = await queue.lease("q", visibility_timeout=30, wait=WAIT)
    assert got is not None
    assert (got.task_id, got.attempt) == ("t1", 2)
    await queue.complete(got, "done")
    task = await queue.get("q", "t1")
    assert task is not None
    assert (task.status, task.attempts, task.last_error) == (
        TaskStatus.COMPLETED,
        2,
        "lease expired",
    )


async def test_the_retention_is_the_finished_buckets_max_age(private_nats: PrivateNats) -> None:
    async def max_age(backend: NatsBackend) -> float | None:
        js = backend._client.js  # pyright: ignore[reportPrivateUsage]
        info = await js.stream_info(f"KV_{_queue(backend).finished.name}")
        return info.config.max_age

    first = NatsBackend(private_nats.url, namespace="tq", task_retention=600)
    await first.start()
    try:
        assert await max_age(first) == 600
        second = NatsBackend(private_nats.url, namespace="tq", task_retention=30)
        await second.start()  # the backend started last sets it
        try:
            assert await max_age(second) == 30
        finally:
            await second.stop()
        assert await _keys(_queue(first)) == []  # the records bucket keeps every key
        assert _queue(first).records.max_age is None
    finally:
        await first.stop()


async def test_a_listing_survives_keys_purged_while_it_reads(backend: NatsBackend) -> None:
    """nats-server 2.9 never answers a ``no_wait`` pull whose pending message was purged."""
    queue = _queue(backend)
    bucket = queue.records
    revision = await bucket.put("k.one", {"n": 1})
    client = backend._client  # pyright: ignore[reportPrivateUsage]
    config = reader_config(
        "$KV." + bucket.name + ".k.>", deliver_policy=DeliverPolicy.LAST_PER_SUBJECT
    )
    info = await client.add_consumer(f"KV_{bucket.name}", config)
    assert info.num_pending == 1
    assert await bucket.purge("k.one", revision)  # gone after the consumer counted it
    puller = Puller(client, f"KV_{bucket.name}", info.name)
    await puller.open()
    try:
        started = time.monotonic()
        assert await puller.pull_within(1, 0.25) == []
        assert time.monotonic() - started < client.timeout  # answered, not timed out
    finally:
        await puller.close()
    assert [key async for key, _, _ in bucket.items("k.>")] == []
