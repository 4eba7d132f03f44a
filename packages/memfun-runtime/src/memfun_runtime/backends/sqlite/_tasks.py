"""The T1 task queue: one ``tasks`` row per task, leases as (token, expiry) on the row.

A lease is current while the row holds its token and the task is neither completed nor dead
(a lapsed lease stays current until the task is leased again, as the protocol says). Leasing
first returns the queue's lapsed leases to ``pending`` (or ``dead`` when no attempt is left),
keeping their token, then takes the best pending task, all in one write transaction, so
workers in several processes never hold the same task at once.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from memfun_core.errors import ConflictError
from memfun_runtime import _codec
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._notify import wait_ticket
from memfun_runtime.backends.sqlite._writer import Tx
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

__all__ = ["SQLiteTaskQueue", "queue_key"]

_LEASE_EXPIRED = "lease expired"
# The task still belongs to the holder of `lease_token` (parameters: token, now).
_CURRENT = (
    "lease_token = ? AND (status = 'pending' OR "
    "(status = 'leased' AND (lease_expires > ? OR attempts < max_attempts)))"
)
_COLUMNS = (
    "id, queue, payload, priority, status, attempts, max_attempts, enqueued_at, "
    "available_at, last_error, result, lease_expires"
)


def queue_key(queue: str) -> str:
    """The notifier key of a task queue (cannot collide with a topic name)."""
    return f"tasks:{queue}:"


class SQLiteTaskQueue(TaskQueue):
    """:class:`~memfun_runtime.protocols.TaskQueue` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

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
        """Add a task (idempotent by ``task_id``) and return its id."""
        _codec.check_name(queue, field="queue")
        text = _codec.encode_json(payload)
        _codec.check_int(priority, field="priority", minimum=0, maximum=MAX_PRIORITY)
        wait = _codec.check_non_negative(delay, field="delay")
        ident = _codec.new_id() if task_id is None else _codec.check_name(task_id, field="task_id")
        _codec.check_int(max_attempts, field="max_attempts", minimum=1)
        pause = _codec.check_non_negative(backoff, field="backoff")
        db = self._handle.db

        def job(tx: Tx) -> str:
            tx.execute(
                "INSERT INTO tasks (queue, id, payload, priority, status, attempts, "
                "max_attempts, backoff, enqueued_at, available_at) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) ON CONFLICT (queue, id) DO NOTHING",
                (queue, ident, text, priority, max_attempts, pause, tx.now, tx.now + wait),
            )
            tx.wake(queue_key(queue))
            return ident

        return await db.writer.transaction(job)

    async def lease(
        self,
        queue: str,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        wait: float = 0.0,
    ) -> Lease | None:
        """Take the next available task for ``visibility_timeout`` seconds."""
        _codec.check_name(queue, field="queue")
        seconds = _codec.check_positive(visibility_timeout, field="visibility_timeout")
        limit = _codec.check_non_negative(wait, field="wait")
        db = self._handle.db
        deadline = time.monotonic() + limit

        def job(tx: Tx) -> Lease | None:
            return self._take(tx, queue, seconds)

        while True:
            ticket = db.notifier.watch(queue_key(queue))
            lease = await db.writer.transaction(job)
            if lease is not None:
                return lease
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            sleep = min(remaining, self._handle.poll_interval)
            due = await db.read_one(
                "SELECT min(available_at) FROM tasks WHERE queue = ? AND status = 'pending'",
                (queue,),
            )
            if due is not None and due[0] is not None:
                sleep = min(sleep, max(float(due[0]) - time.time(), 0.0))
            await wait_ticket(ticket, sleep)

    def _take(self, tx: Tx, queue: str, seconds: float) -> Lease | None:
        tx.execute(
            "UPDATE tasks SET status = CASE WHEN attempts >= max_attempts THEN 'dead' "
            "ELSE 'pending' END, last_error = ?, available_at = lease_expires, "
            "finished_at = CASE WHEN attempts >= max_attempts THEN ? END "
            "WHERE queue = ? AND status = 'leased' AND lease_expires <= ?",
            (_LEASE_EXPIRED, tx.now, queue, tx.now),
        )
        row = tx.fetchone(
            "SELECT seq, id, payload, attempts, max_attempts FROM tasks "
            "WHERE queue = ? AND status = 'pending' AND available_at <= ? "
            "ORDER BY priority DESC, available_at, seq LIMIT 1",
            (queue, tx.now),
        )
        if row is None:
            return None
        token = _codec.new_id()
        expires = tx.now + seconds
        tx.execute(
            "UPDATE tasks SET status = 'leased', attempts = attempts + 1, lease_token = ?, "
            "lease_expires = ? WHERE seq = ?",
            (token, expires, row[0]),
        )
        task_id = str(row[1])
        return Lease(
            task_id=task_id,
            queue=queue,
            payload=self._decode(queue, task_id, row[2]),
            attempt=int(row[3]) + 1,
            max_attempts=int(row[4]),
            token=token,
            expires_at=expires,
        )

    async def complete(self, lease: Lease, result: JSONValue = None) -> None:
        """Mark the leased task completed; raise ConflictError for a stale lease."""
        text = _codec.encode_json(result, field="result")

        def job(tx: Tx) -> None:
            changed = tx.execute(
                "UPDATE tasks SET status = 'completed', result = ?, finished_at = ?, "  # noqa: S608
                f"lease_token = NULL WHERE queue = ? AND id = ? AND {_CURRENT}",
                (text, tx.now, lease.queue, lease.task_id, lease.token, tx.now),
            )
            if not changed:
                raise _stale(lease)

        await self._handle.db.writer.transaction(job)

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> None:
        """Record a failure: retry after backoff while attempts remain, otherwise dead."""
        message = str(error)

        def job(tx: Tx) -> None:
            row = tx.fetchone(
                f"SELECT seq, attempts, max_attempts, backoff FROM tasks WHERE queue = ? "  # noqa: S608 - constant
                f"AND id = ? AND {_CURRENT}",
                (lease.queue, lease.task_id, lease.token, tx.now),
            )
            if row is None:
                raise _stale(lease)
            seq, attempts, max_attempts, backoff = int(row[0]), int(row[1]), int(row[2]), row[3]
            if retry and attempts < max_attempts:
                pause = min(float(backoff) * 2 ** (attempts - 1), MAX_BACKOFF)
                tx.execute(
                    "UPDATE tasks SET status = 'pending', available_at = ?, last_error = ?, "
                    "lease_token = NULL, lease_expires = NULL WHERE seq = ?",
                    (tx.now + pause, message, seq),
                )
                tx.wake(queue_key(lease.queue))
                return
            tx.execute(
                "UPDATE tasks SET status = 'dead', last_error = ?, finished_at = ?, "
                "lease_token = NULL WHERE seq = ?",
                (message, tx.now, seq),
            )

        await self._handle.db.writer.transaction(job)

    async def extend(self, lease: Lease, seconds: float) -> Lease:
        """Push the lease's expiry to ``seconds`` from now and return the updated lease."""
        extra = _codec.check_positive(seconds, field="seconds")

        def job(tx: Tx) -> Lease:
            expires = tx.now + extra
            changed = tx.execute(
                "UPDATE tasks SET status = 'leased', lease_expires = ? "  # noqa: S608 - constant
                f"WHERE queue = ? AND id = ? AND {_CURRENT}",
                (expires, lease.queue, lease.task_id, lease.token, tx.now),
            )
            if not changed:
                raise _stale(lease)
            return dataclasses.replace(lease, expires_at=expires)

        return await self._handle.db.writer.transaction(job)

    async def get(self, queue: str, task_id: str) -> Task | None:
        """Return a snapshot of the task, or ``None`` when unknown."""
        _codec.check_name(queue, field="queue")
        _codec.check_name(task_id, field="task_id")
        row = await self._handle.db.read_one(
            f"SELECT {_COLUMNS} FROM tasks WHERE queue = ? AND id = ?",  # noqa: S608 - constant
            (queue, task_id),
        )
        return None if row is None else self._task(row, time.time())

    async def dead(self, queue: str, *, limit: int = 100) -> list[Task]:
        """Return up to ``limit`` dead tasks of the queue, oldest enqueue first."""
        _codec.check_name(queue, field="queue")
        _codec.check_int(limit, field="limit", minimum=0)
        now = time.time()
        rows = await self._handle.db.read(
            f"SELECT {_COLUMNS} FROM tasks WHERE queue = ? AND (status = 'dead' OR "  # noqa: S608 - constant
            "(status = 'leased' AND lease_expires <= ? AND attempts >= max_attempts)) "
            "ORDER BY seq LIMIT ?",
            (queue, now, limit),
        )
        return [self._task(row, now) for row in rows]

    def _decode(self, queue: str, task_id: str, text: str) -> JSONValue:
        return _codec.decode_json(
            text, backend=BACKEND, location=self._handle.location(f"tasks/{queue}/{task_id}")
        )

    def _task(self, row: sqlite3.Row, now: float) -> Task:
        task_id, queue = str(row[0]), str(row[1])
        status = TaskStatus(str(row[4]))
        last_error = None if row[9] is None else str(row[9])
        available = float(row[8])
        attempts, max_attempts = int(row[5]), int(row[6])
        if status is TaskStatus.LEASED and row[11] is not None and float(row[11]) <= now:
            # A lapsed lease nobody reaped yet: report what the next lease would see.
            last_error = _LEASE_EXPIRED
            available = float(row[11])
            status = TaskStatus.DEAD if attempts >= max_attempts else TaskStatus.PENDING
        return Task(
            id=task_id,
            queue=queue,
            payload=self._decode(queue, task_id, row[2]),
            priority=int(row[3]),
            status=status,
            attempts=attempts,
            max_attempts=max_attempts,
            enqueued_at=float(row[7]),
            available_at=available,
            last_error=last_error,
            result=None if row[10] is None else self._decode(queue, task_id, row[10]),
        )


def _stale(lease: Lease) -> ConflictError:
    return ConflictError(
        f"the lease of task {lease.task_id!r} in queue {lease.queue!r} is no longer current "
        "(the task was leased again, completed, or is dead)",
        hint="do not retry with this lease; lease the queue again for new work",
    )
