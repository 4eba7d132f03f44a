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
    from memfun_runtime.backends.sqlite import SQLiteBackend

__all__ = ["STATS_TIERS", "GroupStats", "QueueStats", "RuntimeStats", "read_stats"]

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


async def _sqlite(backend: SQLiteBackend) -> RuntimeStats:
    db = backend._handle.db  # pyright: ignore[reportPrivateUsage]
    rows = await db.read(
        "SELECT queue, SUM(status = 'pending' OR lease_expires <= ?), "
        "SUM(status = 'leased' AND lease_expires > ?) FROM tasks "
        "WHERE status IN ('pending', 'leased') GROUP BY queue ORDER BY queue",
        (time.time(), time.time()),
    )
    queues = tuple(QueueStats(str(q), int(p), int(le)) for q, p, le in rows)
    rows = await db.read(
        "SELECT g.topic, g.grp, "
        "(SELECT COUNT(*) FROM events e WHERE e.topic = g.topic AND e.seq > g.cursor), "
        "(SELECT COUNT(*) FROM deliveries d WHERE d.gid = g.id) "
        "FROM consumer_groups g ORDER BY g.topic, g.grp"
    )
    groups = tuple(GroupStats(str(t), str(g), int(lag), int(un)) for t, g, lag, un in rows)
    return RuntimeStats("sqlite", queues, groups)


async def _redis(backend: RedisBackend) -> RuntimeStats:
    from memfun_runtime.migrate._redis_source import scan_keys

    client = backend._client  # pyright: ignore[reportPrivateUsage]
    prefix = client.key("tq", "")
    names = [key[len(prefix) : -len(":seq")] for key in await scan_keys(client, prefix + "*:seq")]
    now = f"{time.time():.6f}"
    queues: list[QueueStats] = []
    for queue in names:
        base = client.key("tq", queue, "")

        def counts(pipe: Any, base: str = base) -> None:
            for priority in range(MAX_PRIORITY + 1):
                pipe.zcard(f"{base}r{priority}")
            pipe.zcount(f"{base}leased", "-inf", now)
            pipe.zcount(f"{base}leased", f"({now}", "+inf")

        replies = [int(r) for r in await client.pipeline("counting a queue", counts)]
        pending, leased = sum(replies[:-1]), replies[-1]
        if pending or leased:
            queues.append(QueueStats(queue, pending, leased))
    streams = client.key("ev", "")
    groups: list[GroupStats] = []
    for stream in await scan_keys(client, streams + "*", "stream"):
        infos: list[Any] = await client.run("listing groups", lambda r, s=stream: r.xinfo_groups(s))
        for info in infos:
            lag = info.get("lag")
            if lag is None:  # Redis cannot tell after deletions: count past the last delivered
                after = "(" + str(info["last-delivered-id"])
                entries: list[Any] = await client.run(
                    "counting undelivered events", lambda r, s=stream, a=after: r.xrange(s, a)
                )
                lag = len(entries)
            topic = stream[len(streams) :]
            groups.append(GroupStats(topic, str(info["name"]), int(lag), int(info["pending"])))
    return RuntimeStats("redis", tuple(queues), tuple(groups))


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
