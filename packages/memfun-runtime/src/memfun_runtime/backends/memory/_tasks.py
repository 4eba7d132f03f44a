"""The in-memory task queue: priority heaps, delays, leases with expiry, retries, dead tasks."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.memory._common import TIER, Gate, Signal, now
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

__all__ = ["MemoryTaskQueue"]

_LEASE_EXPIRED = "lease expired"


@dataclass(slots=True)
class _Rec:
    id: str
    queue: str
    payload: str
    priority: int
    max_attempts: int
    backoff: float
    enqueued_at: float
    available_at: float
    order: int
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    token: str | None = None
    expires_at: float = 0.0
    generation: int = 0
    last_error: str | None = None
    result: str = "null"
    finished_at: float = 0.0

    def snapshot(self) -> Task:
        location = f"{self.queue}/{self.id}"
        return Task(
            id=self.id,
            queue=self.queue,
            payload=_codec.decode_json(self.payload, backend=TIER, location=location),
            priority=self.priority,
            status=self.status,
            attempts=self.attempts,
            max_attempts=self.max_attempts,
            enqueued_at=self.enqueued_at,
            available_at=self.available_at,
            last_error=self.last_error,
            result=_codec.decode_json(self.result, backend=TIER, location=location),
        )


@dataclass(slots=True)
class _Queue:
    tasks: dict[str, _Rec] = field(default_factory=dict[str, _Rec])
    # (-priority, available_at, order, id, generation): tasks available now.
    ready: list[tuple[int, float, int, str, int]] = field(
        default_factory=list[tuple[int, float, int, str, int]]
    )
    # (available_at, order, id, generation): tasks waiting for their delay or backoff.
    delayed: list[tuple[float, int, str, int]] = field(
        default_factory=list[tuple[float, int, str, int]]
    )
    # (expires_at, id, token): leases to check for expiry.
    leases: list[tuple[float, str, str]] = field(default_factory=list[tuple[float, str, str]])
    finished: deque[tuple[float, str]] = field(default_factory=deque[tuple[float, str]])
    signal: Signal = field(default_factory=Signal)


class MemoryTaskQueue(TaskQueue):
    """:class:`~memfun_runtime.protocols.TaskQueue` in process memory (see the protocol).

    Args:
        gate: The backend's started-guard.
        retention: Seconds completed and dead tasks stay inspectable.
    """

    def __init__(self, gate: Gate, *, retention: float = 86_400.0) -> None:
        self._gate = gate
        self._retention = _codec.check_positive(retention, field="retention")
        self._queues: dict[str, _Queue] = {}
        self._order = itertools.count()

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        return queue

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
        self._gate.check()
        _codec.check_name(queue, field="queue")
        text = _codec.encode_json(payload)
        _codec.check_int(priority, field="priority", minimum=0, maximum=MAX_PRIORITY)
        wait = _codec.check_non_negative(delay, field="delay")
        _codec.check_int(max_attempts, field="max_attempts", minimum=1)
        pause = _codec.check_non_negative(backoff, field="backoff")
        if task_id is not None:
            _codec.check_name(task_id, field="task_id")
        state = self._queue(queue)
        self._purge(state)
        if task_id is not None and task_id in state.tasks:
            return task_id
        stamp = now()
        rec = _Rec(
            id=task_id or _codec.new_id(),
            queue=queue,
            payload=text,
            priority=priority,
            max_attempts=max_attempts,
            backoff=pause,
            enqueued_at=stamp,
            available_at=stamp + wait,
            order=next(self._order),
        )
        state.tasks[rec.id] = rec
        self._schedule(state, rec)
        state.signal.notify()
        return rec.id

    def _schedule(self, state: _Queue, rec: _Rec) -> None:
        rec.generation += 1
        if rec.available_at <= now():
            entry = (-rec.priority, rec.available_at, rec.order, rec.id, rec.generation)
            heapq.heappush(state.ready, entry)
        else:
            heapq.heappush(state.delayed, (rec.available_at, rec.order, rec.id, rec.generation))

    def _purge(self, state: _Queue) -> None:
        horizon = now() - self._retention
        while state.finished and state.finished[0][0] <= horizon:
            _, task_id = state.finished.popleft()
            rec = state.tasks.get(task_id)
            if rec is not None and rec.status in (TaskStatus.COMPLETED, TaskStatus.DEAD):
                del state.tasks[task_id]

    def _finish(self, state: _Queue, rec: _Rec, status: TaskStatus) -> None:
        rec.status = status
        rec.generation += 1
        rec.finished_at = now()
        state.finished.append((rec.finished_at, rec.id))

    def _settle_time(self, state: _Queue) -> None:
        """Drop expired finished tasks, expire lapsed leases, move due tasks to the ready heap."""
        self._purge(state)
        stamp = now()
        while state.leases and state.leases[0][0] <= stamp:
            _, task_id, token = heapq.heappop(state.leases)
            rec = state.tasks.get(task_id)
            if rec is None or rec.status is not TaskStatus.LEASED or rec.token != token:
                continue
            if rec.expires_at > stamp:  # extended since this heap entry was pushed
                continue
            rec.last_error = _LEASE_EXPIRED
            if rec.attempts >= rec.max_attempts:
                self._finish(state, rec, TaskStatus.DEAD)
            else:
                rec.status = TaskStatus.PENDING
                rec.available_at = rec.expires_at
                self._schedule(state, rec)
        while state.delayed and state.delayed[0][0] <= stamp:
            _, _, task_id, generation = heapq.heappop(state.delayed)
            rec = state.tasks.get(task_id)
            if rec is not None and rec.generation == generation:
                entry = (-rec.priority, rec.available_at, rec.order, rec.id, rec.generation)
                heapq.heappush(state.ready, entry)

    def _next_wake(self, state: _Queue) -> float | None:
        times = [heap[0][0] for heap in (state.leases, state.delayed) if heap]
        return min(times) if times else None

    def _take(self, state: _Queue, visibility: float) -> Lease | None:
        self._settle_time(state)
        while state.ready:
            _, _, _, task_id, generation = heapq.heappop(state.ready)
            rec = state.tasks.get(task_id)
            if rec is None or rec.generation != generation or rec.status is not TaskStatus.PENDING:
                continue
            rec.status = TaskStatus.LEASED
            rec.attempts += 1
            rec.token = _codec.new_id()
            rec.expires_at = now() + visibility
            rec.generation += 1
            heapq.heappush(state.leases, (rec.expires_at, rec.id, rec.token))
            return self._lease_of(rec)
        return None

    @staticmethod
    def _lease_of(rec: _Rec) -> Lease:
        assert rec.token is not None
        return Lease(
            task_id=rec.id,
            queue=rec.queue,
            payload=_codec.decode_json(rec.payload, backend=TIER, location=f"{rec.queue}/{rec.id}"),
            attempt=rec.attempts,
            max_attempts=rec.max_attempts,
            token=rec.token,
            expires_at=rec.expires_at,
        )

    async def lease(
        self,
        queue: str,
        *,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        wait: float = 0.0,
    ) -> Lease | None:
        """Take the next available task, waiting up to ``wait`` seconds for one."""
        self._gate.check()
        _codec.check_name(queue, field="queue")
        visibility = _codec.check_positive(visibility_timeout, field="visibility_timeout")
        deadline = now() + _codec.check_non_negative(wait, field="wait")
        state = self._queue(queue)
        while True:
            lease = self._take(state, visibility)
            remaining = deadline - now()
            if lease is not None or remaining <= 0:
                return lease
            wake = self._next_wake(state)
            if wake is not None:
                remaining = min(remaining, max(wake - now(), 0.0005))
            await state.signal.wait(remaining)

    def _current(self, lease: Lease) -> tuple[_Queue, _Rec]:
        if not isinstance(lease, Lease):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a Lease, not {type(lease).__name__}", field="lease", rule="a Lease"
            )
        state = self._queue(lease.queue)
        self._settle_time(state)
        rec = state.tasks.get(lease.task_id)
        if (
            rec is None
            or rec.token != lease.token
            or rec.status
            not in (
                TaskStatus.LEASED,
                TaskStatus.PENDING,
            )
        ):
            status = "unknown" if rec is None else rec.status.value
            raise ConflictError(
                f"the lease on task {lease.task_id!r} in {lease.queue!r} is stale "
                f"(the task is {status} or was leased again)",
                hint="another worker owns the task now; drop this result",
            )
        return state, rec

    async def complete(self, lease: Lease, result: JSONValue = None) -> None:
        """Mark the leased task completed."""
        self._gate.check()
        text = _codec.encode_json(result, field="result")
        state, rec = self._current(lease)
        rec.result = text
        rec.token = None
        self._finish(state, rec, TaskStatus.COMPLETED)

    async def fail(self, lease: Lease, error: str, *, retry: bool = True) -> None:
        """Record a failure; retry after backoff while attempts remain, otherwise dead."""
        self._gate.check()
        state, rec = self._current(lease)
        rec.last_error = str(error)
        rec.token = None
        if retry and rec.attempts < rec.max_attempts:
            pause = min(rec.backoff * 2 ** (rec.attempts - 1), MAX_BACKOFF)
            rec.status = TaskStatus.PENDING
            rec.available_at = now() + pause
            self._schedule(state, rec)
            state.signal.notify()
        else:
            self._finish(state, rec, TaskStatus.DEAD)

    async def extend(self, lease: Lease, seconds: float) -> Lease:
        """Push the lease's expiry to ``seconds`` from now."""
        self._gate.check()
        extra = _codec.check_positive(seconds, field="seconds")
        state, rec = self._current(lease)
        rec.status = TaskStatus.LEASED
        rec.generation += 1  # drop a ready-heap entry from a lapse
        rec.expires_at = now() + extra
        assert rec.token is not None
        heapq.heappush(state.leases, (rec.expires_at, rec.id, rec.token))
        return self._lease_of(rec)

    async def get(self, queue: str, task_id: str) -> Task | None:
        """Return a snapshot of the task, or ``None``."""
        self._gate.check()
        _codec.check_name(queue, field="queue")
        _codec.check_name(task_id, field="task_id")
        state = self._queue(queue)
        self._settle_time(state)
        rec = state.tasks.get(task_id)
        return None if rec is None else rec.snapshot()

    async def dead(self, queue: str, *, limit: int = 100) -> list[Task]:
        """Return up to ``limit`` dead tasks, oldest enqueue first."""
        self._gate.check()
        _codec.check_name(queue, field="queue")
        _codec.check_int(limit, field="limit", minimum=0)
        state = self._queue(queue)
        self._settle_time(state)
        dead = sorted(
            (r for r in state.tasks.values() if r.status is TaskStatus.DEAD),
            key=lambda r: r.order,
        )
        return [r.snapshot() for r in dead[:limit]]
