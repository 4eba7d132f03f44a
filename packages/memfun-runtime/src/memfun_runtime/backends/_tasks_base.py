"""What every tier's task queue shares: the public methods, their argument checks, retries.

A tier's queue subclasses :class:`TaskQueueBase` and implements its hooks, which receive
checked arguments.
"""

from __future__ import annotations

import dataclasses
import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Self

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
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

__all__ = [
    "LEASE_EXPIRED",
    "NewTask",
    "TaskQueueBase",
    "TaskRecord",
    "resolve_lapse",
    "retry_delay",
    "stale",
]

LEASE_EXPIRED = "lease expired"
"""``Task.last_error`` of a task whose lease lapsed."""


@dataclass(frozen=True, slots=True)
class NewTask:
    """A checked enqueue request (``named``: the caller gave the id; ``body``: JSON text)."""

    queue: str
    id: str
    named: bool
    body: str
    priority: int
    delay: float
    max_attempts: int
    backoff: float


def retry_delay(backoff: float, attempts: int) -> float:
    """Seconds before the retry of a task that failed its ``attempts``-th lease."""
    return min(backoff * 2 ** (attempts - 1), MAX_BACKOFF)


def resolve_lapse(task: Task, expires_at: float | None, now: float) -> Task:
    """``task`` as the protocol sees it at ``now``: with a lapsed lease, pending again or dead."""
    if task.status is not TaskStatus.LEASED or expires_at is None or expires_at > now:
        return task
    status = TaskStatus.DEAD if task.attempts >= task.max_attempts else TaskStatus.PENDING
    return dataclasses.replace(
        task, status=status, available_at=expires_at, last_error=LEASE_EXPIRED
    )


def stale(lease: Lease, status: str | None = None) -> ConflictError:
    """The error for a lease that is no longer current (``status``: the task's, if known)."""
    why = (
        "the task was leased again, completed, or is dead"
        if status is None
        else f"the task is {status} or was leased again"
    )
    return ConflictError(
        f"the lease on task {lease.task_id!r} in {lease.queue!r} is stale ({why})",
        hint="another worker owns the task now; drop this result and lease the queue again",
    )


@dataclass(slots=True)
class TaskRecord:
    """The whole state of one task, where a tier keeps it as one record.

    The ``memory`` tier keeps these in a dict, the ``nats`` tier as JSON in KV
    (:meth:`to_json`). ``payload`` and ``result`` are JSON values, handed out as they are:
    a tier that keeps records alive across calls hands out copies.
    """

    id: str
    queue: str
    payload: Any
    priority: int
    max_attempts: int
    backoff: float
    enqueued_at: float
    available_at: float
    status: str = TaskStatus.PENDING.value
    attempts: int = 0
    token: str | None = None
    expires_at: float = 0.0
    last_error: str | None = None
    result: Any = None
    order: int = 0

    @classmethod
    def new(cls, task: NewTask, order: int) -> Self:
        """The record of a task enqueued now (``order``: breaks ties in enqueue order)."""
        stamp = time.time()
        return cls(
            id=task.id,
            queue=task.queue,
            payload=_codec.parse_json(task.body),
            priority=task.priority,
            max_attempts=task.max_attempts,
            backoff=task.backoff,
            enqueued_at=stamp,
            available_at=stamp + task.delay,
            order=order,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in KV: every field by name."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        """Rebuild a record from its stored JSON object."""
        return cls(
            id=str(data["id"]),
            queue=str(data["queue"]),
            payload=data.get("payload"),
            priority=int(data["priority"]),
            max_attempts=int(data["max_attempts"]),
            backoff=float(data["backoff"]),
            enqueued_at=float(data["enqueued_at"]),
            available_at=float(data["available_at"]),
            status=str(data["status"]),
            attempts=int(data["attempts"]),
            token=data.get("token"),
            expires_at=float(data.get("expires_at") or 0.0),
            last_error=data.get("last_error"),
            result=data.get("result"),
            order=int(data.get("order") or 0),
        )

    @property
    def lapsed(self) -> bool:
        """Leased, but the lease expired (the task is available again or dead)."""
        return self.status == TaskStatus.LEASED.value and self.expires_at <= time.time()

    def effective_status(self) -> TaskStatus:
        """The status as the protocol defines it now, with lapsed leases resolved."""
        if self.lapsed:
            return TaskStatus.DEAD if self.attempts >= self.max_attempts else TaskStatus.PENDING
        return TaskStatus(self.status)

    def snapshot(self) -> Task:
        """The protocol's view of the task."""
        task = Task(
            id=self.id,
            queue=self.queue,
            payload=self.payload,
            priority=self.priority,
            status=TaskStatus(self.status),
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            enqueued_at=self.enqueued_at,
            available_at=self.available_at,
            last_error=self.last_error,
            result=self.result,
        )
        return resolve_lapse(task, self.expires_at, time.time())

    def lease(self) -> Lease:
        """The lease the current token stands for."""
        return Lease(
            task_id=self.id,
            queue=self.queue,
            payload=self.payload,
            attempt=self.attempts,
            max_attempts=self.max_attempts,
            token=self.token or "",
            expires_at=self.expires_at,
        )


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(TaskRecord))


def _check_lease(lease: object) -> Lease:
    if not isinstance(lease, Lease):
        raise ValidationError(
            f"must be a Lease, not {type(lease).__name__}", field="lease", rule="a Lease"
        )
    return lease


class TaskQueueBase(TaskQueue):
    """Base of the in-tree task queues: the protocol's methods with their argument checks."""

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
        """Add a task and return its id (idempotent by ``task_id``; see the protocol)."""
        task = NewTask(
            queue=_codec.check_name(queue, field="queue"),
            id=_codec.check_id(task_id, field="task_id"),
            named=task_id is not None,
            body=_codec.encode_json(payload),
            priority=_codec.check_int(priority, field="priority", minimum=0, maximum=MAX_PRIORITY),
            delay=_codec.check_non_negative(delay, field="delay"),
            max_attempts=_codec.check_int(max_attempts, field="max_attempts", minimum=1),
            backoff=_codec.check_non_negative(backoff, field="backoff"),
        )
        await self._enqueue(task)
        return task.id

    async def lease(
        self,
        queue: str,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        wait: float = 0.0,
    ) -> Lease | None:
        """Take the next available task, waiting up to ``wait`` seconds for one."""
        return await self._lease(
            _codec.check_name(queue, field="queue"),
            _codec.check_positive(visibility_timeout, field="visibility_timeout"),
            _codec.check_non_negative(wait, field="wait"),
        )

    async def complete(self, lease: Lease, result: JSONValue = None) -> None:
        """Mark the leased task completed; ConflictError for a stale lease."""
        await self._complete(_check_lease(lease), _codec.encode_json(result, field="result"))

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> None:
        """Record a failure; retry after backoff while attempts remain, otherwise dead."""
        await self._fail(_check_lease(lease), str(error), retry)

    async def extend(self, lease: Lease, seconds: float) -> Lease:
        """Push the lease's expiry to ``seconds`` from now and return the updated lease."""
        checked = _check_lease(lease)
        return await self._extend(checked, _codec.check_positive(seconds, field="seconds"))

    async def get(self, queue: str, task_id: str) -> Task | None:
        """Return a snapshot of the task, or ``None`` when unknown (or no longer retained)."""
        return await self._get(
            _codec.check_name(queue, field="queue"), _codec.check_name(task_id, field="task_id")
        )

    async def dead(self, queue: str, *, limit: int = 100) -> list[Task]:
        """Return up to ``limit`` dead tasks of the queue, oldest enqueue first."""
        return await self._dead(
            _codec.check_name(queue, field="queue"),
            _codec.check_int(limit, field="limit", minimum=0),
        )

    @abstractmethod
    async def _enqueue(self, task: NewTask) -> None:
        """Store the task unless one with its id is retained in its queue."""

    @abstractmethod
    async def _lease(self, queue: str, visibility: float, wait: float) -> Lease | None:
        """Lease the best available task, waiting up to ``wait`` seconds for one."""

    @abstractmethod
    async def _complete(self, lease: Lease, result: str) -> None:
        """Complete the task with ``result`` (JSON text); :func:`stale` if not current."""

    @abstractmethod
    async def _fail(self, lease: Lease, error: str, retry: bool) -> None:
        """Retry the task after :func:`retry_delay` or make it dead; :func:`stale`."""

    @abstractmethod
    async def _extend(self, lease: Lease, seconds: float) -> Lease:
        """Move the lease's expiry to ``seconds`` from now; :func:`stale` if not current."""

    @abstractmethod
    async def _get(self, queue: str, task_id: str) -> Task | None:
        """The task's snapshot, lapsed leases resolved."""

    @abstractmethod
    async def _dead(self, queue: str, limit: int) -> list[Task]:
        """Up to ``limit`` dead tasks, oldest enqueue first."""
