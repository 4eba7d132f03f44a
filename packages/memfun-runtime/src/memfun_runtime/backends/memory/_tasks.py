"""The in-memory task queue: priority heaps, delays, leases with expiry, retries, dead tasks."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from memfun_runtime import _codec
from memfun_runtime.backends._tasks_base import (
    LEASE_EXPIRED,
    NewTask,
    TaskQueueBase,
    TaskRecord,
    retry_delay,
    stale,
)
from memfun_runtime.backends.memory._common import Gate, Signal, now
from memfun_runtime.protocols import Lease, Task, TaskStatus

__all__ = ["MemoryTaskQueue"]

_OPEN = (TaskStatus.LEASED, TaskStatus.PENDING)


@dataclass(slots=True)
class _Rec(TaskRecord):
    generation: int = 0  # bumped on every change: heap entries of an older one are skipped
    finished_at: float = 0.0


def _task(rec: _Rec) -> Task:
    task = rec.snapshot()
    return dataclasses.replace(
        task, payload=_codec.copy_json(task.payload), result=_codec.copy_json(task.result)
    )


def _lease(rec: _Rec) -> Lease:
    lease = rec.lease()
    return dataclasses.replace(lease, payload=_codec.copy_json(lease.payload))


def _make_ready(state: _Queue, rec: _Rec) -> None:
    heapq.heappush(
        state.ready, (-rec.priority, rec.available_at, rec.order, rec.id, rec.generation)
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


class MemoryTaskQueue(TaskQueueBase):
    """:class:`~memfun_runtime.protocols.TaskQueue` in process memory (see the protocol)."""

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

    async def _enqueue(self, task: NewTask) -> None:
        self._gate.check()
        state = self._queue(task.queue)
        self._purge(state)
        if task.id in state.tasks:
            return
        rec = _Rec.new(task, next(self._order))
        state.tasks[rec.id] = rec
        self._schedule(state, rec)
        state.signal.notify()

    def _schedule(self, state: _Queue, rec: _Rec) -> None:
        rec.generation += 1
        if rec.available_at <= now():
            _make_ready(state, rec)
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
            if rec is None or rec.status != TaskStatus.LEASED or rec.token != token:
                continue
            if rec.expires_at > stamp:  # extended since this heap entry was pushed
                continue
            rec.last_error = LEASE_EXPIRED
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
                _make_ready(state, rec)

    def _next_wake(self, state: _Queue) -> float | None:
        times = [heap[0][0] for heap in (state.leases, state.delayed) if heap]
        return min(times) if times else None

    def _take(self, state: _Queue, visibility: float) -> Lease | None:
        self._settle_time(state)
        while state.ready:
            _, _, _, task_id, generation = heapq.heappop(state.ready)
            rec = state.tasks.get(task_id)
            if rec is None or rec.generation != generation or rec.status != TaskStatus.PENDING:
                continue
            rec.status = TaskStatus.LEASED
            rec.attempts += 1
            rec.token = _codec.new_id()
            rec.expires_at = now() + visibility
            rec.generation += 1
            heapq.heappush(state.leases, (rec.expires_at, rec.id, rec.token))
            return _lease(rec)
        return None

    async def _lease(self, queue: str, visibility: float, wait: float) -> Lease | None:
        self._gate.check()
        deadline = now() + wait
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

    def _settled(self, queue: str) -> _Queue:
        """The state of ``queue`` with lapsed leases, due tasks and retention applied."""
        self._gate.check()
        state = self._queue(queue)
        self._settle_time(state)
        return state

    def _current(self, lease: Lease) -> tuple[_Queue, _Rec]:
        state = self._settled(lease.queue)
        rec = state.tasks.get(lease.task_id)
        if rec is None or rec.token != lease.token or rec.status not in _OPEN:
            raise stale(lease, "unknown" if rec is None else rec.status)
        return state, rec

    async def _complete(self, lease: Lease, result: str) -> None:
        state, rec = self._current(lease)
        rec.result = _codec.parse_json(result)
        rec.token = None
        self._finish(state, rec, TaskStatus.COMPLETED)

    async def _fail(self, lease: Lease, error: str, retry: bool) -> None:
        state, rec = self._current(lease)
        rec.last_error = error
        rec.token = None
        if retry and rec.attempts < rec.max_attempts:
            rec.status = TaskStatus.PENDING
            rec.available_at = now() + retry_delay(rec.backoff, rec.attempts)
            self._schedule(state, rec)
            state.signal.notify()
        else:
            self._finish(state, rec, TaskStatus.DEAD)

    async def _extend(self, lease: Lease, seconds: float) -> Lease:
        state, rec = self._current(lease)
        rec.status = TaskStatus.LEASED
        rec.generation += 1  # drop a ready-heap entry from a lapse
        rec.expires_at = now() + seconds
        assert rec.token is not None
        heapq.heappush(state.leases, (rec.expires_at, rec.id, rec.token))
        return _lease(rec)

    async def _get(self, queue: str, task_id: str) -> Task | None:
        rec = self._settled(queue).tasks.get(task_id)
        return None if rec is None else _task(rec)

    async def _dead(self, queue: str, limit: int) -> list[Task]:
        tasks = self._settled(queue).tasks.values()
        dead = sorted((r for r in tasks if r.status == TaskStatus.DEAD), key=lambda r: r.order)
        return [_task(r) for r in dead[:limit]]
