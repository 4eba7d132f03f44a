"""The task queue contract: priorities, delays, leases, retries with backoff, dead tasks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "MAX_BACKOFF",
    "MAX_PRIORITY",
    "Lease",
    "Task",
    "TaskQueue",
    "TaskStatus",
]

MAX_PRIORITY = 9
"""Priorities run from 0 (default, lowest) to 9 (most urgent): ten levels, so a tier may map
each level to its own stream or subject."""
DEFAULT_MAX_ATTEMPTS = 3
"""Attempts (leases) before a failing task is dead."""
DEFAULT_BACKOFF = 1.0
"""Seconds before the first retry; attempt ``n`` waits ``backoff * 2 ** (n - 1)``."""
MAX_BACKOFF = 3600.0
"""The retry delay never exceeds this many seconds."""
DEFAULT_VISIBILITY_TIMEOUT = 30.0
"""Seconds a lease lasts unless extended."""


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    """Waiting to be leased (possibly delayed until ``available_at``)."""
    LEASED = "leased"
    """Held by a worker until its lease expires."""
    COMPLETED = "completed"
    """Done; ``result`` holds the worker's result."""
    DEAD = "dead"
    """Failed ``max_attempts`` times or failed without retry; ``last_error`` says why."""


@dataclass(frozen=True, slots=True)
class Task:
    """A snapshot of one task.

    Attributes:
        id: Task id (the ``task_id`` given at enqueue, or a generated one).
        queue: The queue's name.
        payload: The JSON payload.
        priority: 0..9, higher is leased first.
        status: See :class:`TaskStatus`.
        attempts: Leases so far (an expired lease counts).
        max_attempts: Leases allowed before the task is dead.
        enqueued_at: Unix time of the enqueue.
        available_at: Unix time from which it may be leased (delay and retry backoff).
        last_error: The error of the last failure or ``"lease expired"``, if any.
        result: The result given to :meth:`TaskQueue.complete`, once completed.
    """

    id: str
    queue: str
    payload: JSONValue
    priority: int
    status: TaskStatus
    attempts: int
    max_attempts: int
    enqueued_at: float
    available_at: float
    last_error: str | None = None
    result: JSONValue = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's temporary, exclusive claim on a task.

    Attributes:
        task_id: The leased task.
        queue: Its queue.
        payload: Its payload.
        attempt: 1 for the first lease of the task, 2 for the first retry, ...
        max_attempts: The task's attempt limit.
        token: Identifies this lease; a new lease of the same task gets a new token.
        expires_at: Unix time when the lease lapses unless extended.
    """

    task_id: str
    queue: str
    payload: JSONValue
    attempt: int
    max_attempts: int
    token: str
    expires_at: float


@runtime_checkable
class TaskQueue(Protocol):
    """Named work queues with exclusive, time-limited leases.

    Guarantees (every tier):

    * **Exclusive leases.** A task is held by at most one unexpired lease at a time.
    * **Nothing lost.** A task whose lease expires (the worker died or hung) becomes available
      again; that lease counts as an attempt, and a task whose last attempt expires is dead
      with ``last_error="lease expired"``. Delivery is therefore at least once: make handlers
      idempotent or guard completion with the task id.
    * **Order.** Among available tasks, higher priority first, then earlier ``available_at``,
      then enqueue order. A delayed task is not leased before its delay passes.
    * **Retries.** :meth:`fail` with ``retry=True`` makes the task available again after an
      exponential backoff (``backoff * 2 ** (attempt - 1)``, capped at :data:`MAX_BACKOFF`)
      until ``max_attempts`` leases were used; then it is dead and stays inspectable through
      :meth:`get` and :meth:`dead`.
    * **Stale leases.** Completing, failing or extending with a lease whose token is no longer
      current (the task was leased again, completed, or is dead) raises
      :class:`~memfun_core.errors.ConflictError`. A lease that lapsed but whose task has not
      been leased again is still current.
    * **Durability** as the tier (T0 memory only).

    Completed and dead tasks are kept for inspection for a backend-defined retention period.
    """

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
        """Add a task and return its id.

        Args:
            queue: The queue's name (topic grammar).
            payload: JSON payload.
            priority: 0..9, higher first.
            delay: Seconds before the task may be leased (>= 0).
            task_id: Makes enqueue idempotent: if a task with this id exists in the queue
                (in any status, while retained) nothing is added and the id is returned.
            max_attempts: Leases allowed (>= 1).
            backoff: Seconds before the first retry (>= 0).

        Raises:
            ValidationError: A bad name, payload, priority, delay, attempts or backoff.
        """
        ...

    async def lease(
        self,
        queue: str,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        wait: float = 0.0,
    ) -> Lease | None:
        """Take the next available task for ``visibility_timeout`` seconds.

        Args:
            queue: The queue.
            visibility_timeout: Lease length in seconds (> 0; small values are accepted).
            wait: Seconds to wait for a task when none is available; 0 polls.

        Returns:
            The lease, or ``None`` when no task became available within ``wait``.
        """
        ...

    async def complete(self, lease: Lease, result: JSONValue = None) -> None:
        """Mark the leased task completed with an optional JSON result.

        Raises:
            ConflictError: The lease is stale.
        """
        ...

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> None:
        """Record a failure; retry after backoff while attempts remain, otherwise dead.

        Args:
            lease: The current lease.
            error: What went wrong (kept in ``Task.last_error``).
            retry: ``False`` makes the task dead at once.

        Raises:
            ConflictError: The lease is stale.
        """
        ...

    async def extend(self, lease: Lease, seconds: float) -> Lease:
        """Push the lease's expiry to ``seconds`` from now and return the updated lease.

        Raises:
            ConflictError: The lease is stale.
            ValidationError: ``seconds`` is not > 0.
        """
        ...

    async def get(self, queue: str, task_id: str) -> Task | None:
        """Return a snapshot of the task, or ``None`` when unknown (or no longer retained)."""
        ...

    async def dead(self, queue: str, *, limit: int = 100) -> list[Task]:
        """Return up to ``limit`` dead tasks of the queue, oldest enqueue first."""
        ...
