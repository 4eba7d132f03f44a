"""Task records (the KV side of the task queue) and the subjects of its work-queue stream.

A task lives in two places:

* its **record** in KV bucket ``<ns>_tasks`` under ``<queue digest>.<task id>``: the source
  of truth (status, attempts, lease token and expiry), changed only by revision-checked
  updates, so exactly one worker wins each transition;
* **messages** in the work-queue stream ``<ns>_TASKS``: a *ready* message on
  ``<ns>.tq.<queue digest>.<priority>`` says "lease me", a *check* message on
  ``<ns>.tc.<queue digest>`` says "look at this task when it is due" (a delay, a retry
  backoff or a lease expiry). Check messages wait with JetStream's ``-NAK {"delay"}``.

Once a task is completed or dead its record moves to the bucket ``<ns>_tasks_done`` under
``C.<queue digest>.<task id>`` (completed) or ``D.<queue digest>.<task id>`` (dead), where the
bucket's ``max_age`` (the retention period) expires it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from memfun_runtime.backends._tasks_base import resolve_lapse
from memfun_runtime.protocols import Lease, Task, TaskStatus

__all__ = ["FINISHED", "TaskRecord", "queue_digest"]

FINISHED = frozenset({TaskStatus.COMPLETED.value, TaskStatus.DEAD.value})
"""Stored statuses of tasks that are done for good (retired to ``<ns>_tasks_done``)."""


def queue_digest(queue: str) -> str:
    """A single subject token standing for ``queue`` (queue names contain dots)."""
    return hashlib.sha256(queue.encode()).hexdigest()[:16]


@dataclass(slots=True)
class TaskRecord:
    """The stored state of one task (JSON in KV)."""

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

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in KV."""
        return {
            "id": self.id,
            "queue": self.queue,
            "payload": self.payload,
            "priority": self.priority,
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
            "enqueued_at": self.enqueued_at,
            "available_at": self.available_at,
            "status": self.status,
            "attempts": self.attempts,
            "token": self.token,
            "expires_at": self.expires_at,
            "last_error": self.last_error,
            "result": self.result,
            "order": self.order,
        }

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
