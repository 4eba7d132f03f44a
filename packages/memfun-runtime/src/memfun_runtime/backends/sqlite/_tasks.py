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

from memfun_runtime import _codec
from memfun_runtime.backends._tasks_base import (
    LEASE_EXPIRED,
    NewTask,
    TaskQueueBase,
    resolve_lapse,
    retry_delay,
    stale,
)
from memfun_runtime.backends.sqlite._database import Handle
from memfun_runtime.backends.sqlite._writer import Tx, wait_ticket
from memfun_runtime.protocols import Lease, Task, TaskStatus

__all__ = ["SQLiteTaskQueue", "queue_key"]
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


class SQLiteTaskQueue(TaskQueueBase):
    """:class:`~memfun_runtime.protocols.TaskQueue` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    async def _enqueue(self, task: NewTask) -> None:
        def job(tx: Tx) -> None:
            tx.execute(
                "INSERT INTO tasks (queue, id, payload, priority, status, attempts, "
                "max_attempts, backoff, enqueued_at, available_at) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?) ON CONFLICT (queue, id) DO NOTHING",
                (task.queue, task.id, task.body, task.priority, task.max_attempts, task.backoff,
                 tx.now, tx.now + task.delay),
            )  # fmt: skip
            tx.wake(queue_key(task.queue))

        await self._handle.db.writer.transaction(job)

    async def _lease(self, queue: str, visibility: float, wait: float) -> Lease | None:
        db = self._handle.db
        deadline = time.monotonic() + wait
        while True:
            ticket = db.notifier.watch(queue_key(queue))
            lease = await db.writer.transaction(lambda tx: self._take(tx, queue, visibility))
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
            (LEASE_EXPIRED, tx.now, queue, tx.now),
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
            payload=self._handle.decode(row[2], f"tasks/{queue}/{task_id}"),
            attempt=int(row[3]) + 1,
            max_attempts=int(row[4]),
            token=token,
            expires_at=expires,
        )

    async def _complete(self, lease: Lease, result: str) -> None:
        completed = "status = 'completed', result = ?, finished_at = ?, lease_token = NULL"
        await self._handle.db.writer.transaction(
            lambda tx: _change(tx, lease, completed, result, tx.now)
        )

    async def _fail(self, lease: Lease, error: str, retry: bool) -> None:
        def job(tx: Tx) -> None:
            row = tx.fetchone(
                f"SELECT seq, attempts, max_attempts, backoff FROM tasks WHERE queue = ? "  # noqa: S608 - constant
                f"AND id = ? AND {_CURRENT}",
                (lease.queue, lease.task_id, lease.token, tx.now),
            )
            if row is None:
                raise stale(lease)
            seq, attempts, max_attempts, backoff = int(row[0]), int(row[1]), int(row[2]), row[3]
            if retry and attempts < max_attempts:
                tx.execute(
                    "UPDATE tasks SET status = 'pending', available_at = ?, last_error = ?, "
                    "lease_token = NULL, lease_expires = NULL WHERE seq = ?",
                    (tx.now + retry_delay(float(backoff), attempts), error, seq),
                )
                tx.wake(queue_key(lease.queue))
                return
            tx.execute(
                "UPDATE tasks SET status = 'dead', last_error = ?, finished_at = ?, "
                "lease_token = NULL WHERE seq = ?",
                (error, tx.now, seq),
            )

        await self._handle.db.writer.transaction(job)

    async def _extend(self, lease: Lease, seconds: float) -> Lease:
        def job(tx: Tx) -> Lease:
            expires = tx.now + seconds
            _change(tx, lease, "status = 'leased', lease_expires = ?", expires)
            return dataclasses.replace(lease, expires_at=expires)

        return await self._handle.db.writer.transaction(job)

    async def _get(self, queue: str, task_id: str) -> Task | None:
        row = await self._handle.db.read_one(
            f"SELECT {_COLUMNS} FROM tasks WHERE queue = ? AND id = ?",  # noqa: S608 - constant
            (queue, task_id),
        )
        return None if row is None else self._task(row, time.time())

    async def _dead(self, queue: str, limit: int) -> list[Task]:
        now = time.time()
        rows = await self._handle.db.read(
            f"SELECT {_COLUMNS} FROM tasks WHERE queue = ? AND (status = 'dead' OR "  # noqa: S608 - constant
            "(status = 'leased' AND lease_expires <= ? AND attempts >= max_attempts)) "
            "ORDER BY seq LIMIT ?",
            (queue, now, limit),
        )
        return [self._task(row, now) for row in rows]

    def _task(self, row: sqlite3.Row, now: float) -> Task:
        task_id, queue = str(row[0]), str(row[1])
        task = Task(
            id=task_id,
            queue=queue,
            payload=self._handle.decode(row[2], f"tasks/{queue}/{task_id}"),
            priority=int(row[3]),
            status=TaskStatus(str(row[4])),
            attempts=int(row[5]),
            max_attempts=int(row[6]),
            enqueued_at=float(row[7]),
            available_at=float(row[8]),
            last_error=None if row[9] is None else str(row[9]),
            result=None
            if row[10] is None
            else self._handle.decode(row[10], f"tasks/{queue}/{task_id}"),
        )
        # A lapsed lease nobody reaped yet: report what the next lease would see.
        return resolve_lapse(task, None if row[11] is None else float(row[11]), now)


def _change(tx: Tx, lease: Lease, assignments: str, *values: object) -> None:
    """Update the lease's task with ``assignments``; :func:`stale` when it is not current."""
    if not tx.execute(
        f"UPDATE tasks SET {assignments} WHERE queue = ? AND id = ? AND {_CURRENT}",  # noqa: S608 - constants
        (*values, lease.queue, lease.task_id, lease.token, tx.now),
    ):
        raise stale(lease)
