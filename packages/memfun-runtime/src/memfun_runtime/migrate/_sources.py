"""Inventories of the tiers that can be a migration source: SQLite, Redis and NATS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_core.errors import UserError
from memfun_runtime.migrate._inventory import GroupPosition, Inventory, OpenTask
from memfun_runtime.protocols import TaskStatus

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.backends.nats import NatsBackend
    from memfun_runtime.backends.sqlite import SQLiteBackend

__all__ = ["SOURCE_TIERS", "nats_groups", "read_inventory"]

SOURCE_TIERS = ("sqlite", "redis", "nats")
"""Tiers a project can be moved away from (any tier can be the target)."""

_OPEN = (TaskStatus.PENDING, TaskStatus.LEASED)


async def read_inventory(backend: Backend) -> Inventory:
    """List the started ``backend``'s topics, consumer groups, open tasks and invoked skills.

    Raises:
        UserError: The backend's tier cannot be a migration source.
    """
    if backend.tier == "sqlite":
        from memfun_runtime.backends.sqlite import SQLiteBackend

        if isinstance(backend, SQLiteBackend):
            return await _sqlite(backend)
    if backend.tier == "redis":
        from memfun_runtime.backends.redis import RedisBackend

        if isinstance(backend, RedisBackend):
            from memfun_runtime.migrate._redis_source import redis_inventory

            return await redis_inventory(backend)
    if backend.tier == "nats":
        from memfun_runtime.backends.nats import NatsBackend

        if isinstance(backend, NatsBackend):
            return await _nats(backend)
    raise UserError(
        f"a {backend.tier!r} backend cannot be a migration source",
        hint=f"migrate from one of: {', '.join(SOURCE_TIERS)}",
    )


async def _sqlite(backend: SQLiteBackend) -> Inventory:
    db = backend._handle.db  # pyright: ignore[reportPrivateUsage]
    topics = [str(row[0]) for row in await db.read("SELECT DISTINCT topic FROM events")]
    groups: list[GroupPosition] = []
    for gid, topic, group, cursor in await db.read(
        "SELECT id, topic, grp, cursor FROM consumer_groups"
    ):
        rows = await db.read("SELECT seq FROM deliveries WHERE gid = ?", (gid,))
        pending = frozenset(str(row[0]) for row in rows)
        groups.append(GroupPosition(str(topic), str(group), str(cursor), "0", pending))
    tasks: list[OpenTask] = []
    rows = await db.read(
        "SELECT queue, id, backoff FROM tasks WHERE status IN ('pending', 'leased') "
        "ORDER BY priority DESC, available_at, seq"
    )
    for queue, task_id, backoff in rows:
        task = await backend.tasks.get(str(queue), str(task_id))
        if task is not None and task.status in _OPEN:
            tasks.append(OpenTask(task, float(backoff)))
    skills = [str(row[0]) for row in await db.read("SELECT DISTINCT skill FROM skill_invocations")]
    return Inventory(tuple(sorted(topics)), tuple(groups), tuple(tasks), tuple(sorted(skills)))


async def _nats(backend: NatsBackend) -> Inventory:
    from memfun_runtime.backends.nats._taskrec import TaskRecord

    client = backend._client  # pyright: ignore[reportPrivateUsage]
    bus = backend._events  # pyright: ignore[reportPrivateUsage]
    js: Any = client.js
    prefix = bus.prefix
    info: Any = await client.call(
        "listing the topics", lambda: js.stream_info(bus.stream, subjects_filter=prefix + ">")
    )
    subjects: dict[str, int] = info.state.subjects or {}
    topics = sorted(subject[len(prefix) :] for subject in subjects)
    groups: list[GroupPosition] = []
    for topic, group, consumer in await nats_groups(backend):
        through = str(consumer.delivered.stream_seq)
        floor = str(consumer.ack_floor.stream_seq)
        groups.append(GroupPosition(topic, group, through, floor, None))
    records: list[TaskRecord] = []
    async for _, value, _ in backend._tasks.records.items():  # pyright: ignore[reportPrivateUsage]
        record = TaskRecord.from_json(value)
        if record.snapshot().status in _OPEN:
            records.append(record)
    records.sort(key=lambda r: (-r.priority, r.available_at, r.order))
    tasks = tuple(OpenTask(record.snapshot(), record.backoff) for record in records)
    return Inventory(tuple(topics), tuple(groups), tasks, tuple(await _nats_skills(backend)))


async def nats_groups(backend: NatsBackend) -> list[tuple[str, str, Any]]:
    """The consumer groups of a NATS backend: (topic, group, the JetStream consumer's info)."""
    client = backend._client  # pyright: ignore[reportPrivateUsage]
    bus = backend._events  # pyright: ignore[reportPrivateUsage]
    js: Any = client.js
    prefix = bus.prefix
    consumers: list[Any] = await client.call(
        "listing the consumer groups", lambda: js.consumers_info(bus.stream)
    )
    groups: list[tuple[str, str, Any]] = []
    for consumer in consumers:
        subject = str(consumer.config.filter_subject or "")
        if not subject.startswith(prefix) or not consumer.config.durable_name:
            continue  # an ephemeral reader, not a group
        groups.append((subject[len(prefix) :], str(consumer.name).rsplit("-", 1)[0], consumer))
    return groups


async def _nats_skills(backend: NatsBackend) -> list[str]:
    from memfun_runtime import _codec

    client = backend._client  # pyright: ignore[reportPrivateUsage]
    registry: Any = backend._skills  # pyright: ignore[reportPrivateUsage]
    js: Any = client.js
    stream = str(registry.stream)
    info: Any = await client.call(
        "listing invoked skills", lambda: js.stream_info(stream, subjects_filter=">")
    )
    subjects: dict[str, int] = info.state.subjects or {}
    names: set[str] = set()
    for subject in subjects:
        message: Any = await client.call(
            "reading an invocation", lambda s=subject: js.get_last_msg(stream, s)
        )
        data = _codec.decode_json(message.data, backend="nats", location=subject)
        names.add(str(data["skill"]))
    return sorted(names)
