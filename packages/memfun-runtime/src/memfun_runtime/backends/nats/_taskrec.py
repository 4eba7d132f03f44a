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

from memfun_runtime.backends._tasks_base import TaskRecord
from memfun_runtime.backends.nats._client import token
from memfun_runtime.protocols import TaskStatus

__all__ = ["FINISHED", "TaskRecord", "queue_digest"]

FINISHED = frozenset({TaskStatus.COMPLETED.value, TaskStatus.DEAD.value})
"""Stored statuses of tasks that are done for good (retired to ``<ns>_tasks_done``)."""


def queue_digest(queue: str) -> str:
    """A single subject token standing for ``queue`` (queue names contain dots)."""
    return token(queue, 16)
