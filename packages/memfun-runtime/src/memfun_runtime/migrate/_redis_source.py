"""The inventory of a Redis (T2) source: streams, stream consumer groups, task hashes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_runtime.migrate._inventory import GroupPosition, Inventory, OpenTask
from memfun_runtime.protocols import TaskStatus

if TYPE_CHECKING:
    from memfun_runtime.backends.redis import RedisBackend
    from memfun_runtime.backends.redis._client import RedisClient

__all__ = ["redis_inventory"]

_OPEN = (TaskStatus.PENDING, TaskStatus.LEASED)


async def _group(client: RedisClient, stream: str, topic: str, info: Any) -> GroupPosition:
    name, pending = str(info["name"]), int(info["pending"])
    rows: list[Any] = []
    if pending:
        rows = await client.run(
            "listing pending deliveries",
            lambda r: r.xpending_range(stream, name, min="-", max="+", count=pending),
        )
    unacked = frozenset(str(row["message_id"]) for row in rows)
    return GroupPosition(topic, name, str(info["last-delivered-id"]), "0-0", unacked)


async def redis_inventory(backend: RedisBackend) -> Inventory:
    """List the topics, consumer groups, open tasks and invoked skills of a Redis backend."""
    client = backend._client  # pyright: ignore[reportPrivateUsage]
    streams = client.key("ev", "")
    topics: list[str] = []
    groups: list[GroupPosition] = []
    for stream in await client.keys(streams + "*", "stream"):
        topic = stream[len(streams) :]
        topics.append(topic)
        infos: list[Any] = await client.run("listing groups", lambda r, s=stream: r.xinfo_groups(s))
        groups += [await _group(client, stream, topic, info) for info in infos]
    queues = client.key("tq", "")
    found: list[tuple[int, float, int, OpenTask]] = []
    for key in await client.keys(queues + "*:t:*", "hash"):
        queue, _, task_id = key[len(queues) :].partition(":t:")
        task = await backend.tasks.get(queue, task_id)
        if task is None or task.status not in _OPEN:
            continue
        fields: list[Any] = await client.run(
            "reading a task", lambda r, k=key: r.hmget(k, "backoff", "order")
        )
        backoff, order = float(fields[0] or 0.0), int(fields[1] or 0)
        found.append((-task.priority, task.available_at, order, OpenTask(task, backoff)))
    found.sort(key=lambda item: item[:3])
    logs = client.key("ski", "")
    skills = [key[len(logs) :] for key in await client.keys(logs + "*", "list")]
    return Inventory(
        tuple(sorted(topics)), tuple(groups), tuple(item[3] for item in found), tuple(skills)
    )
