"""The task queue on Redis: a hash per task, sorted sets per priority, Lua for every change."""

from __future__ import annotations

import asyncio
from typing import Any

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.redis import _lua_tasks as lua
from memfun_runtime.backends.redis._client import TIER, RedisClient, seconds_to_ms, text
from memfun_runtime.protocols import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_VISIBILITY_TIMEOUT,
    MAX_BACKOFF,
    MAX_PRIORITY,
    JSONValue,
    Lease,
    Task,
    TaskQueue,
    TaskStatus,
)

__all__ = ["RedisTaskQueue"]

_MAX_BLOCK = 2.0
"""Longest single ``BLPOP``; a longer ``wait`` blocks several times."""


class RedisTaskQueue(TaskQueue):
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

    async def _call(self, operation: str, source: str, queue: str, *args: Any) -> Any:
        script = self._client.script(source)
        keys, argv = (self._prefix(queue),), (self._retention, *args)
        return await self._client.run(operation, lambda r: script(keys, argv, r))

    async def enqueue(
        self,
        queue: str,
        payload: JSONValue,
        *,
        priority: int = 0,
        delay: float = 0.0,
        task_id: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
    ) -> str:
        """Add a task and return its id (idempotent by ``task_id``)."""
        _codec.check_name(queue, field="queue")
        body = _codec.encode_json(payload)
        _codec.check_int(priority, field="priority", minimum=0, maximum=MAX_PRIORITY)
        wait = _codec.check_non_negative(delay, field="delay")
        _codec.check_int(max_attempts, field="max_attempts", minimum=1)
        pause = _codec.check_non_negative(backoff, field="backoff")
        tid = _codec.new_id() if task_id is None else _codec.check_name(task_id, field="task_id")
        await self._call(
            "enqueue", lua.ENQUEUE, queue, tid, body, priority, repr(wait), max_attempts,
            repr(pause),
        )  # fmt: skip
        return tid

    async def lease(
        self,
        queue: str,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        wait: float = 0.0,
    ) -> Lease | None:
        """Take the next available task, waiting up to ``wait`` seconds for one."""
        _codec.check_name(queue, field="queue")
        visibility = _codec.check_positive(visibility_timeout, field="visibility_timeout")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _codec.check_non_negative(wait, field="wait")
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

    async def complete(self, lease: Lease, result: JSONValue = None) -> None:
        """Mark the leased task completed."""
        _check_lease(lease)
        body = _codec.encode_json(result, field="result")
        reply = await self._call(
            "complete", lua.COMPLETE, lease.queue, lease.task_id, lease.token, body
        )
        _raise_if_stale(lease, reply)

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> None:
        """Record a failure; retry after backoff while attempts remain, otherwise dead."""
        _check_lease(lease)
        reply = await self._call(
            "fail", lua.FAIL, lease.queue, lease.task_id, lease.token, str(error),
            "1" if retry else "0", repr(MAX_BACKOFF),
        )  # fmt: skip
        _raise_if_stale(lease, reply)

    async def extend(self, lease: Lease, seconds: float) -> Lease:
        """Push the lease's expiry to ``seconds`` from now."""
        _check_lease(lease)
        extra = _codec.check_positive(seconds, field="seconds")
        reply = await self._call(
            "extend", lua.EXTEND, lease.queue, lease.task_id, lease.token, repr(extra)
        )
        _raise_if_stale(lease, reply)
        return _lease(lease.queue, lease.task_id, lease.token, reply[1:])

    async def get(self, queue: str, task_id: str) -> Task | None:
        """Return a snapshot of the task, or ``None``."""
        _codec.check_name(queue, field="queue")
        _codec.check_name(task_id, field="task_id")
        flat = await self._call("get", lua.GET, queue, task_id)
        return _task(queue, task_id, flat) if flat else None

    async def dead(self, queue: str, *, limit: int = 100) -> list[Task]:
        """Return up to ``limit`` dead tasks, oldest enqueue first."""
        _codec.check_name(queue, field="queue")
        _codec.check_int(limit, field="limit", minimum=0)
        if limit == 0:
            return []
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
    f = {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}
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


def _check_lease(lease: object) -> None:
    if not isinstance(lease, Lease):
        raise ValidationError(
            f"must be a Lease, not {type(lease).__name__}", field="lease", rule="a Lease"
        )


def _raise_if_stale(lease: Lease, reply: Any) -> None:
    if not int(reply[0]):
        raise ConflictError(
            f"the lease on task {lease.task_id!r} in {lease.queue!r} is stale "
            f"(the task is {text(reply[1])} or was leased again)",
            hint="another worker owns the task now; drop this result",
        )
