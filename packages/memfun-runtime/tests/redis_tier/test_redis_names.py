"""T2's sets of queue and topic names: metrics list them without walking the keyspace.

A private server, so that its command counters see only this test's commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis.testing import PrivateRedis
from memfun_runtime.metrics import GroupStats, QueueStats, read_stats


@pytest.fixture
async def admin(private_redis: PrivateRedis) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client: Any = aioredis.Redis.from_url(private_redis.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def _calls(admin: Any, command: str) -> int:
    """How often the server ran ``command`` since the last ``CONFIG RESETSTAT``."""
    stats = await admin.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def _populate(backend: RedisBackend) -> None:
    await backend.tasks.enqueue("mail", {"n": 1})
    await backend.tasks.enqueue("mail", {"n": 2})
    await backend.tasks.enqueue("print", {"n": 3})
    await backend.tasks.lease("print", visibility_timeout=60)
    sub = await backend.events.subscribe("orders", "billing", consumer="c")
    await backend.events.publish("orders", {"n": 1})
    await backend.events.publish("orders", {"n": 2})
    assert len(await sub.fetch(1, timeout=5)) == 1


EXPECTED_QUEUES = (QueueStats("mail", 2, 0), QueueStats("print", 0, 1))
EXPECTED_GROUPS = (GroupStats("orders", "billing", 1, 1),)


async def test_a_scrape_reads_the_name_sets_and_never_scans(
    private_redis: PrivateRedis, admin: Any
) -> None:
    for n in range(5_000):  # another namespace's keys, which a SCAN would walk
        await admin.set(f"other:key:{n}", "x")
    backend = RedisBackend(private_redis.url, namespace="names")
    await backend.start()
    try:
        await _populate(backend)
        await admin.config_resetstat()
        stats = await read_stats(backend)
        assert (stats.queues, stats.groups) == (EXPECTED_QUEUES, EXPECTED_GROUPS)
        assert await _calls(admin, "scan") == 0
        assert await _calls(admin, "smembers") == 2
        assert await admin.delete("names:ev:orders") == 1  # as maxmemory eviction would
        assert (await read_stats(backend)).groups == ()
    finally:
        await backend.stop()


async def test_a_namespace_written_without_the_name_sets_gets_them_once(
    private_redis: PrivateRedis, admin: Any
) -> None:
    first = RedisBackend(private_redis.url, namespace="older")
    await first.start()
    try:
        await _populate(first)
    finally:
        await first.stop()
    # What a release before the name sets leaves behind: the same keys, without the sets.
    assert await admin.delete("older:queues", "older:topics", "older:names") == 3
    await admin.config_resetstat()
    for attempt in range(2):
        backend = RedisBackend(private_redis.url, namespace="older")
        await backend.start()
        try:
            stats = await read_stats(backend)
        finally:
            await backend.stop()
        assert (stats.queues, stats.groups) == (EXPECTED_QUEUES, EXPECTED_GROUPS)
        rebuilt = await _calls(admin, "scan") > 0
        assert rebuilt == (attempt == 0)  # on the first start only
        await admin.config_resetstat()
