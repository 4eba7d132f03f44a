"""Queue depths and consumer-group lag, read from a durable tier's own storage.

The protocols cannot count a queue's tasks or say how far a group is behind its topic, so
each durable tier answers from its storage (as the migration's inventory does): SQL counts
on SQLite, sorted-set sizes and ``XINFO GROUPS`` on Redis, task records and JetStream
consumer info on NATS. Read-only, and cheap enough to run on every metrics scrape.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memfun_core.errors import UserError
from memfun_runtime.protocols import MAX_PRIORITY, TaskStatus

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.backends.nats import NatsBackend
    from memfun_runtime.backends.redis import RedisBackend
    from memfun_runtime.backends.redis._client import RedisClient
    from memfun_runtime.backends.sqlite import SQLiteBackend

__all__ = ["OPEN_TASKS", "STATS_TIERS", "GroupStats", "QueueStats", "RuntimeStats", "read_stats"]

STATS_TIERS = ("sqlite", "redis", "nats")
"""Tiers whose queues and groups outlive a process, so another process can read them."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """One task queue.

    Attributes:
        queue: The queue's name.
        pending: Tasks waiting to be leased (delayed ones, and ones whose lease lapsed,
            included): the queue's depth.
        leased: Tasks held by a live lease now.
    """

    queue: str
    pending: int
    leased: int


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One consumer group on its topic.

    Attributes:
        topic: The topic.
        group: The group's name.
        lag: Events of the topic not yet handed to any consumer of the group.
        unacked: Events handed to the group's consumers and not acknowledged yet.
    """

    topic: str
    group: str
    lag: int
    unacked: int


@dataclass(frozen=True, slots=True)
class RuntimeStats:
    """Every queue holding open tasks and every consumer group of one backend, by name."""

    tier: str
    queues: tuple[QueueStats, ...]
    groups: tuple[GroupStats, ...]


async def read_stats(backend: Backend) -> RuntimeStats:
    """Count the started ``backend``'s open tasks per queue and its groups' lag.

    Raises:
        UserError: The tier keeps its queues inside one process (``memory``).
        BackendUnavailable: The storage cannot be read.
    """
    if backend.tier == "sqlite":
        from memfun_runtime.backends.sqlite import SQLiteBackend

        if isinstance(backend, SQLiteBackend):
            return await _sqlite(backend)
    if backend.tier == "redis":
        from memfun_runtime.backends.redis import RedisBackend

        if isinstance(backend, RedisBackend):
            return await _redis(backend)
    if backend.tier == "nats":
        from memfun_runtime.backends.nats import NatsBackend

        if isinstance(backend, NatsBackend):
            return await _nats(backend)
    raise UserError(
        f"queue and group statistics cannot be read from a {backend.tier!r} backend",
        hint=f"use a tier shared between processes: {', '.join(STATS_TIERS)}",
    )


OPEN_TASKS = """
WITH RECURSIVE queues (name) AS (
    SELECT (SELECT min(queue) FROM tasks)
    UNION ALL
    SELECT (SELECT min(queue) FROM tasks WHERE queue > name) FROM queues WHERE name IS NOT NULL
)
SELECT name,
    (SELECT count(*) FROM tasks WHERE queue = name AND status = 'pending')
    + (SELECT count(*) FROM tasks
       WHERE queue = name AND status = 'leased' AND lease_expires <= ?1),
    (SELECT count(*) FROM tasks WHERE queue = name AND status = 'leased' AND lease_expires > ?1)
FROM queues WHERE name IS NOT NULL
"""
"""Pending (lapsed leases included) and leased tasks per queue on T1, by index seeks: one per
queue name (a loose scan of ``tasks_leases``) and one per count, never a read of the finished
tasks that retention keeps."""


async def _sqlite(backend: SQLiteBackend) -> RuntimeStats:
    db = backend._handle.db  # pyright: ignore[reportPrivateUsage]
    rows = await db.read(OPEN_TASKS, (time.time(),))
    counted = (QueueStats(str(q), int(p), int(le)) for q, p, le in rows)
    queues = tuple(q for q in counted if q.pending or q.leased)
    rows = await db.read(
        "SELECT g.topic, g.grp, "
        "(SELECT COUNT(*) FROM events e WHERE e.topic = g.topic AND e.seq > g.cursor), "
        "(SELECT COUNT(*) FROM deliveries d WHERE d.gid = g.id) "
        "FROM consumer_groups g ORDER BY g.topic, g.grp"
    )
    groups = tuple(GroupStats(str(t), str(g), int(lag), int(un)) for t, g, lag, un in rows)
    return RuntimeStats("sqlite", queues, groups)


async def _redis(backend: RedisBackend) -> RuntimeStats:
    from memfun_runtime.backends.redis._names import QUEUES, TOPICS

    client = backend._client  # pyright: ignore[reportPrivateUsage]
    queues = await _redis_queues(client, await _members(client, QUEUES))
    groups = await _redis_groups(client, await _members(client, TOPICS))
    return RuntimeStats("redis", queues, groups)


async def _members(client: RedisClient, kind: str) -> list[str]:
    """The names in one of the namespace's name sets (never a SCAN), sorted."""
    from memfun_runtime.backends.redis._client import text

    found = await client.call("listing names", ("SMEMBERS", client.key(kind)))
    return sorted(text(name) for name in found)


async def _ask(
    client: RedisClient, operation: str, commands: list[tuple[str, ...]], *, missing: object = ()
) -> list[Any]:
    """Send ``commands`` in one round trip and return their replies.

    A "no such key" error stands as ``missing`` (a stream evicted under ``maxmemory``);
    any other error reply raises ``BackendError``.
    """
    if not commands:
        return []
    packed = b"".join(client.pack(command) for command in commands)
    replies = await client.send(operation, packed, len(commands))
    return [
        missing
        if isinstance(reply, Exception) and "no such key" in str(reply)
        else client.checked(operation, reply)
        for reply in replies
    ]


async def _redis_queues(client: RedisClient, names: list[str]) -> tuple[QueueStats, ...]:
    now = f"{time.time():.6f}"
    commands: list[tuple[str, ...]] = []
    for queue in names:
        base = client.key("tq", queue, "")
        commands += [("ZCARD", f"{base}r{priority}") for priority in range(MAX_PRIORITY + 1)]
        commands.append(("ZCOUNT", f"{base}leased", "-inf", now))  # lapsed: pending again
        commands.append(("ZCOUNT", f"{base}leased", f"({now}", "+inf"))
    replies = [int(reply) for reply in await _ask(client, "counting queued tasks", commands)]
    width = MAX_PRIORITY + 3
    rows = (replies[i * width : (i + 1) * width] for i in range(len(names)))
    counted = [QueueStats(q, sum(row[:-1]), row[-1]) for q, row in zip(names, rows, strict=True)]
    return tuple(q for q in counted if q.pending or q.leased)


async def _redis_groups(client: RedisClient, topics: list[str]) -> tuple[GroupStats, ...]:
    from memfun_runtime.backends.redis._client import fields

    streams = [client.key("ev", topic) for topic in topics]
    listed = await _ask(client, "listing groups", [("XINFO", "GROUPS", s) for s in streams])
    groups: list[GroupStats] = []
    for topic, stream, infos in zip(topics, streams, listed, strict=True):
        for info in map(fields, infos):
            lag = info["lag"]
            if not lag:  # Redis cannot tell after deletions: count past the last delivered
                after = "(" + info["last-delivered-id"]
                [undelivered] = await _ask(
                    client, "counting events", [("XRANGE", stream, after, "+")]
                )
                lag = len(undelivered)
            groups.append(GroupStats(topic, info["name"], int(lag), int(info["pending"])))
    return tuple(groups)


async def _nats(backend: NatsBackend) -> RuntimeStats:
    from memfun_runtime.backends.nats._taskrec import TaskRecord
    from memfun_runtime.migrate._sources import nats_groups

    counts: Counter[tuple[str, TaskStatus]] = Counter()
    async for _, value, _ in backend._tasks.records.items():  # pyright: ignore[reportPrivateUsage]
        record = TaskRecord.from_json(value)
        counts[record.queue, record.effective_status()] += 1
    names = sorted({queue for queue, _ in counts})
    queues = tuple(
        QueueStats(q, counts[q, TaskStatus.PENDING], counts[q, TaskStatus.LEASED]) for q in names
    )
    groups = tuple(
        GroupStats(topic, group, int(info.num_pending), int(info.num_ack_pending))
        for topic, group, info in sorted(await nats_groups(backend), key=lambda g: g[:2])
    )
    return RuntimeStats("nats", tuple(q for q in queues if q.pending or q.leased), groups)
