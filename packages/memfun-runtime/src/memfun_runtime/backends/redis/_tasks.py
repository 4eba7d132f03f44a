"""The task queue on Redis: a hash per task, sorted sets per priority, Lua for every change."""

from __future__ import annotations

import asyncio
from typing import Any

from memfun_runtime import _codec
from memfun_runtime.backends._tasks_base import NewTask, TaskQueueBase, stale
from memfun_runtime.backends.redis import _lua_tasks as lua
from memfun_runtime.backends.redis._client import TIER, RedisClient, fields, seconds_to_ms, text
from memfun_runtime.backends.redis._names import QUEUES
from memfun_runtime.protocols import MAX_BACKOFF, Lease, Task, TaskStatus

__all__ = ["RedisTaskQueue"]

_MAX_BLOCK = 2.0
"""Longest single ``BLPOP``; a longer ``wait`` blocks several times."""


class RedisTaskQueue(TaskQueueBase):
    """:class:`~memfun_runtime.protocols.TaskQueue` on Redis (see the protocol).

    Leasing, completing, failing and extending are single Lua scripts, so a task is never
    leased twice and a stale lease is always detected, however many workers share the
    queue. Times are the server's clock, so workers on several machines agree. A waiting
    ``lease`` blocks on a wake-up list instead of polling.

    Args:
        client: The shared connection.
        retention: Seconds completed and dead tasks stay inspectable.
    """

    def __init__(self, client: RedisClient, *, retention: float = 86_400.0) -> None:
        self._client = client
        self._retention = str(seconds_to_ms(_codec.check_positive(retention, field="retention")))

    def _prefix(self, queue: str) -> str:
        return self._client.key("tq", queue, "")

    async def _call(self, operation: str, source: str, queue: str, *args: str | int) -> Any:
        return await self._client.eval(
            operation, source, (self._prefix(queue),), (self._retention, *args)
        )

    async def _enqueue(self, task: NewTask) -> None:
        keys = (self._prefix(task.queue), self._client.key(QUEUES))
        await self._client.eval(
            "enqueue", lua.ENQUEUE, keys, (
                self._retention, task.id, task.body, task.priority, repr(task.delay),
                task.max_attempts, repr(task.backoff), task.queue,
            ),
        )  # fmt: skip

    async def _lease(self, queue: str, visibility: float, wait: float) -> Lease | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            token = _codec.new_id()
            reply = await self._call("lease", lua.LEASE, queue, repr(visibility), token)
            if int(reply[0]):
                return _lease(queue, text(reply[1]), token, reply[2:])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            next_due, server_now = text(reply[1]), float(reply[2])
            if next_due:
                remaining = min(remaining, max(float(next_due) - server_now, 0.001))
            await self._block(queue, min(remaining, _MAX_BLOCK))

    async def _block(self, queue: str, seconds: float) -> None:
        wake = self._prefix(queue) + "wake"
        # Block for less than the socket timeout, so a blocked read is not taken for an outage.
        seconds = min(seconds, self._client.timeout / 2)
        limit = self._client.timeout + seconds
        await self._client.run(
            "lease", lambda r: r.blpop([wake], timeout=max(seconds, 0.001)), timeout=limit
        )

    async def _on_lease(self, operation: str, source: str, lease: Lease, *args: str) -> Any:
        reply = await self._call(operation, source, lease.queue, lease.task_id, lease.token, *args)
        if not int(reply[0]):
            raise stale(lease, text(reply[1]))
        return reply

    async def _complete(self, lease: Lease, result: str) -> None:
        await self._on_lease("complete", lua.COMPLETE, lease, result)

    async def _fail(self, lease: Lease, error: str, retry: bool) -> None:
        flag = "1" if retry else "0"
        await self._on_lease("fail", lua.FAIL, lease, error, flag, repr(MAX_BACKOFF))

    async def _extend(self, lease: Lease, seconds: float) -> Lease:
        reply = await self._on_lease("extend", lua.EXTEND, lease, repr(seconds))
        return _lease(lease.queue, lease.task_id, lease.token, reply[1:])

    async def _get(self, queue: str, task_id: str) -> Task | None:
        flat = await self._call("get", lua.GET, queue, task_id)
        return _task(queue, task_id, flat) if flat else None

    async def _dead(self, queue: str, limit: int) -> list[Task]:
        rows = await self._call("dead", lua.DEAD, queue, limit)
        return [_task(queue, text(task_id), flat) for task_id, flat in rows]


def _lease(queue: str, task_id: str, token: str, reply: Any) -> Lease:
    body, attempt, max_attempts, expires = reply
    return Lease(
        task_id=task_id,
        queue=queue,
        payload=_codec.decode_json(text(body), backend=TIER, location=f"{queue}/{task_id}"),
        attempt=int(attempt),
        max_attempts=int(max_attempts),
        token=token,
        expires_at=float(expires),
    )


def _task(queue: str, task_id: str, flat: list[Any]) -> Task:
    f = fields(flat)
    where = f"{queue}/{task_id}"
    return Task(
        id=task_id,
        queue=queue,
        payload=_codec.decode_json(f.get("payload", "null"), backend=TIER, location=where),
        priority=int(f.get("priority", "0")),
        status=TaskStatus(f.get("status", "pending")),
        attempts=int(f.get("attempts", "0")),
        max_attempts=int(f.get("max_attempts", "1")),
        enqueued_at=float(f.get("enqueued_at", "0")),
        available_at=float(f.get("available_at", "0")),
        last_error=f.get("last_error"),
        result=_codec.decode_json(f.get("result", "null"), backend=TIER, location=where),
    )
