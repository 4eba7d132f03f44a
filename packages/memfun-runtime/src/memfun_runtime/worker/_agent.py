"""``TaskWorker``: an agent that leases tasks from shared queues and runs a handler on each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from memfun_core.errors import BackendUnavailable, ConflictError, OperationTimeout, ValidationError
from memfun_runtime import _codec
from memfun_runtime.agents import BaseAgent
from memfun_runtime.protocols import JSONValue, Lease

__all__ = ["Handler", "Job", "Outcome", "TaskWorker", "WorkerObserver", "done_key", "task_worker"]

log = logging.getLogger("memfun_runtime.worker")

_IDLE_WAIT = 1.0
"""Seconds one lease call waits for a task before the loop looks at the next queue."""
_OUTAGE_PAUSE = 0.5
"""Seconds a worker loop pauses after the backend could not be reached."""
_TRANSIENT = (BackendUnavailable, OperationTimeout)
"""Errors of a backend that is unreachable or overloaded for now: pause and try again."""


@dataclass(frozen=True, slots=True)
class Job:
    """What a handler gets: the task and the worker running it.

    Attributes:
        task_id: The task's id (stable across retries: key side effects by it).
        queue: The queue it came from.
        payload: The task's JSON payload.
        attempt: 1 on the first lease, 2 on the first retry, ...
        max_attempts: The task's attempt limit.
        worker: The running worker agent (``worker.state``, ``worker.events``, ...).
    """

    task_id: str
    queue: str
    payload: JSONValue
    attempt: int
    max_attempts: int
    worker: BaseAgent


Handler = Callable[[Job], Awaitable[JSONValue]]
"""An ``async`` function taking a :class:`Job` and returning the task's JSON result."""


Outcome = Literal["completed", "failed", "taken_over", "returned", "lost"]
"""How a worker let go of a lease: completed; failed (the handler raised: retried with backoff
until ``max_attempts``); taken over (the lease went stale while the handler ran: another
worker owns the task); returned (the worker was stopping and handed the task back); lost
(the backend failed while the task was settled: the lease lapses and the task is leased
again)."""


@runtime_checkable
class WorkerObserver(Protocol):
    """Told what a :class:`TaskWorker` does with each lease (e.g. to count it as metrics).

    Both methods run on the worker's event loop and must return at once (no I/O).
    """

    def leased(self, lease: Lease) -> None:
        """The worker got ``lease`` (``lease.attempt > 1``: a retry of the task)."""
        ...

    def finished(self, lease: Lease, outcome: Outcome) -> None:
        """The worker let go of ``lease`` (see :data:`Outcome`)."""
        ...


def done_key(queue: str, task_id: str) -> str:
    """The state key where a worker records a task's result before completing it."""
    return f"{queue}.done.{task_id}"


class TaskWorker(BaseAgent):
    """Leases tasks from ``queues`` and runs ``handler`` on each, ``concurrency`` at a time.

    Delivery is at least once: a task whose worker dies (or hangs past its lease) is leased
    again by another worker. Completion is idempotent: the result is first recorded under
    :func:`done_key` with compare-and-set (exactly one attempt wins), then the task is
    completed; an attempt that finds a recorded result completes the task with it without
    running the handler again. A handler whose *side effects* must happen once keys them by
    ``job.task_id`` (e.g. ``compare_and_set(..., expected_version=None)``).

    While a handler runs, its lease is extended every third of ``visibility_timeout``, so
    long tasks are not taken away from a live worker. A handler that raises fails the task
    (retried with backoff until ``max_attempts``). An ``observer`` is told of every lease
    and how it ended.
    """

    handler: ClassVar[Handler]
    queues: ClassVar[tuple[str, ...]]
    concurrency: ClassVar[int] = 1
    visibility_timeout: ClassVar[float] = 30.0
    result_ttl: ClassVar[float] = 86_400.0
    observer: ClassVar[WorkerObserver | None] = None

    async def run(self) -> None:
        """Run ``concurrency`` lease loops until the agent is stopped."""
        async with asyncio.TaskGroup() as group:
            for slot in range(self.concurrency):
                group.create_task(self._loop(slot))

    async def _loop(self, slot: int) -> None:
        queues = self.queues
        turn = slot
        while True:
            queue = queues[turn % len(queues)]
            turn += 1
            try:
                lease = await self.tasks.lease(
                    queue, visibility_timeout=self.visibility_timeout, wait=_IDLE_WAIT
                )
                if lease is not None:
                    await self._observed(lease)
            except _TRANSIENT as exc:
                log.warning(
                    "worker %s: backend unavailable or busy (%s); retrying", self.instance_id, exc
                )
                await asyncio.sleep(_OUTAGE_PAUSE)

    async def _observed(self, lease: Lease) -> None:
        observer = self.observer
        if observer is None:
            await self._work(lease)
            return
        observer.leased(lease)
        try:
            outcome = await self._work(lease)
        except asyncio.CancelledError:
            observer.finished(lease, "returned")
            raise
        except BaseException:
            observer.finished(lease, "lost")
            raise
        observer.finished(lease, outcome)

    async def _work(self, lease: Lease) -> Outcome:
        keeper = asyncio.create_task(self._keep(lease))
        try:
            result = await self._result(lease)
        except asyncio.CancelledError:
            keeper.cancel()
            # Stopping: hand the task back at once rather than after the lease times out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.tasks.extend(lease, 0.001))
            raise
        except Exception as exc:
            keeper.cancel()
            log.warning("task %s of %s failed: %s", lease.task_id, lease.queue, exc)
            try:
                await self.tasks.fail(lease, f"{type(exc).__name__}: {exc}")
            except ConflictError:
                return "taken_over"
            return "failed"
        keeper.cancel()
        try:
            await self.tasks.complete(lease, result)
        except ConflictError:
            log.info("task %s was taken over by another worker; dropping", lease.task_id)
            return "taken_over"
        return "completed"

    async def _result(self, lease: Lease) -> JSONValue:
        key = done_key(lease.queue, lease.task_id)
        recorded = await self.state.get(key)
        if recorded is not None:
            return recorded.value
        job = Job(
            task_id=lease.task_id,
            queue=lease.queue,
            payload=lease.payload,
            attempt=lease.attempt,
            max_attempts=lease.max_attempts,
            worker=self,
        )
        result = await type(self).handler(job)
        try:
            await self.state.compare_and_set(
                key, result, expected_version=None, ttl=self.result_ttl
            )
        except ConflictError:
            winner = await self.state.get(key)
            if winner is not None:
                return winner.value
        return result

    async def _keep(self, lease: Lease) -> None:
        current = lease
        while True:
            await asyncio.sleep(self.visibility_timeout / 3)
            try:
                current = await self.tasks.extend(current, self.visibility_timeout)
            except ConflictError:
                return  # someone else owns it now; complete() will say so
            except _TRANSIENT as exc:  # keep trying: the lease may still be saved
                log.warning("task %s: extending its lease failed (%s)", lease.task_id, exc)
                continue


def task_worker(
    handler: Handler,
    *,
    name: str,
    capabilities: Iterable[str],
    queues: Iterable[str] | None = None,
    concurrency: int = 1,
    visibility_timeout: float = 30.0,
    result_ttl: float = 86_400.0,
    observer: WorkerObserver | None = None,
) -> type[TaskWorker]:
    """Return a :class:`TaskWorker` subclass running ``handler``; add it to a runtime.

    Args:
        handler: The async function run on every task.
        name: The agent's name in the registry.
        capabilities: Announced in the agent registry.
        queues: The queues to serve; default ``tasks.<capability>`` for each capability.
        concurrency: Tasks handled at once.
        visibility_timeout: Lease length in seconds (extended while the handler runs).
        result_ttl: Seconds the recorded result of a task is kept.
        observer: Told of every lease and how it ended (e.g. a metrics collector).

    Raises:
        ValidationError: Bad names or settings.
    """
    caps = tuple(_codec.check_name(c, field="capabilities") for c in capabilities)
    chosen = tuple(queues) if queues is not None else tuple(f"tasks.{c}" for c in caps)
    if not chosen:
        raise ValidationError(
            "give at least one capability or queue",
            field="capabilities",
            rule="at least one capability or queue",
        )
    namespace: dict[str, Any] = {
        "name": _codec.check_group(name, field="name"),
        "capabilities": frozenset(caps),
        "handler": staticmethod(handler),
        "queues": tuple(_codec.check_name(q, field="queues") for q in chosen),
        "concurrency": _codec.check_int(concurrency, field="concurrency", minimum=1),
        "visibility_timeout": _codec.check_positive(visibility_timeout, field="visibility_timeout"),
        "result_ttl": _codec.check_positive(result_ttl, field="result_ttl"),
        "observer": observer,
    }
    return type("TaskWorker_" + name.replace("-", "_"), (TaskWorker,), namespace)
