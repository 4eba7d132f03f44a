"""The task queue on a JetStream work-queue stream plus revision-checked KV records.

See :mod:`._taskrec` for the layout. Leasing takes a *ready* message of the highest
non-empty priority (one consumer per queue and priority), flips the record to ``leased``
with a revision-checked update (exactly one worker wins), publishes a *check* message that
fires at the lease's expiry, and acks the ready message. Delays, retry backoffs and lease
expiries are all check messages: the :class:`~._checker.Checker` of every started backend
waits for them with ``-NAK {"delay"}`` and, when one is due, republishes the task as ready
(or makes it dead). Every message is idempotent (``Nats-Msg-Id`` by record revision) and
every handler re-reads the record, so a crash between two steps only delays a task: a ready
message that finds its task leased elsewhere or not yet due publishes the record's check
message again (deduplicated), so a worker killed between leasing and scheduling the lease's
expiry does not strand the task.

Finished tasks (completed or dead) are *retired*: the record is copied to the bucket
``<ns>_tasks_done``, whose ``max_age`` is the retention period (JetStream drops each entry
that long after it was written, as NATS 2.9 has no per-key TTL), then removed from
``<ns>_tasks`` without a delete marker (:meth:`~._kv.Bucket.purge` at the finished
revision). Readers look in ``tasks`` first, then in ``tasks_done``; since the copy is written
before the removal, a finished task is always found in one of them while it is retained.
Whoever finds a finished record still in ``tasks`` (a retirement cut short by a crash)
finishes the move.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy

from memfun_runtime import _codec
from memfun_runtime.backends._tasks_base import (
    LEASE_EXPIRED,
    NewTask,
    TaskQueueBase,
    retry_delay,
    stale,
)
from memfun_runtime.backends.nats._client import NatsClient, StreamSpec
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.backends.nats._pull import Puller
from memfun_runtime.backends.nats._taskrec import FINISHED, TaskRecord, queue_digest
from memfun_runtime.protocols import Lease, Task, TaskStatus

__all__ = ["NatsTaskQueue"]

_READY_ACK_WAIT = 10.0  # seconds a fetched ready message may stay unsettled (a crash mid-lease)
_POLL = 0.25  # seconds between re-checks while a lease waits (lapsed leases are not published)
_MAX_ACK_PENDING = 100_000
_LEASED = TaskStatus.LEASED.value
_PENDING = TaskStatus.PENDING.value
_DONE_PREFIX = {TaskStatus.COMPLETED.value: "C", TaskStatus.DEAD.value: "D"}


class NatsTaskQueue(TaskQueueBase):
    """:class:`~memfun_runtime.protocols.TaskQueue` on JetStream (see the module docstring).

    Args:
        client: The shared connection.
        retention: Seconds completed and dead tasks stay inspectable (the ``max_age`` of the
            bucket ``<ns>_tasks_done``; the backend started last sets it for the namespace).
    """

    def __init__(self, client: NatsClient, *, retention: float = 86_400.0) -> None:
        self._client = client
        self.records = Bucket(client, "tasks")
        """The KV bucket of task records."""
        self.finished = Bucket(
            client, "tasks_done", max_age=_codec.check_positive(retention, field="retention")
        )
        """The KV bucket of retired (completed and dead) task records."""
        self.stream = client.stream("TASKS")
        self._ns = client.namespace
        self._pullers: dict[tuple[str, int], Puller] = {}
        self._signals: dict[str, tuple[asyncio.Event, Subscription]] = {}

    async def open(self) -> None:
        """Create both buckets (idempotent; sets the retention of finished records)."""
        await self.records.open()
        await self.finished.open()

    def spec(self) -> StreamSpec:
        """The work-queue stream this queue needs."""
        return StreamSpec(
            self.stream,
            [f"{self._ns}.tq.>", f"{self._ns}.tc.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            dedupe=120.0,
        )

    def ready_subject(self, digest: str, priority: int) -> str:
        """Where ready messages of a queue's priority level go."""
        return f"{self._ns}.tq.{digest}.{priority}"

    def check_subject(self, digest: str) -> str:
        """Where check messages of a queue go."""
        return f"{self._ns}.tc.{digest}"

    @staticmethod
    def key(queue: str, task_id: str) -> str:
        """The record's KV key."""
        return f"{queue_digest(queue)}.{task_id}"

    @staticmethod
    def finished_key(queue: str, task_id: str, status: str) -> str:
        """The key of a retired record: ``C.`` (completed) or ``D.`` (dead) + its KV key."""
        return f"{_DONE_PREFIX[status]}.{queue_digest(queue)}.{task_id}"

    # --- messages ----------------------------------------------------------------------------

    async def publish(self, subject: str, record: TaskRecord, msg_id: str) -> None:
        """Publish a ready or check message for ``record`` (deduplicated by ``msg_id``)."""
        body = json.dumps({"q": record.queue, "id": record.id}).encode()
        js = self._client.js
        headers = {"Nats-Msg-Id": msg_id}
        await self._client.call(
            f"scheduling task {record.id!r}",
            lambda: js.publish(subject, body, headers=headers, stream=self.stream),
        )

    async def publish_ready(self, record: TaskRecord, revision: int) -> None:
        """Make the task leasable now."""
        subject = self.ready_subject(queue_digest(record.queue), record.priority)
        await self.publish(subject, record, f"r-{record.id}-{revision}")

    async def publish_check(self, record: TaskRecord, revision: int) -> None:
        """Have the checker look at the task when it is due."""
        subject = self.check_subject(queue_digest(record.queue))
        await self.publish(subject, record, f"c-{record.id}-{revision}")

    async def load(self, queue: str, task_id: str) -> tuple[TaskRecord, int] | None:
        """Read a task's record and revision."""
        found = await self.records.get(self.key(queue, task_id))
        if found is None:
            return None
        return TaskRecord.from_json(found[0]), found[1]

    async def save(self, record: TaskRecord, revision: int) -> int | None:
        """Write ``record`` if it is still at ``revision``; the new revision or ``None``."""
        return await self.records.update(
            self.key(record.queue, record.id), record.to_json(), revision
        )

    async def retire(self, record: TaskRecord, revision: int) -> None:
        """Move a finished record (at ``revision`` in ``tasks``) to the retention bucket.

        Idempotent: the copy is written first, then the record is removed if it is still at
        ``revision``, so a crash in between leaves it in both places (readers agree).
        """
        key = self.finished_key(record.queue, record.id, record.status)
        await self.finished.put(key, record.to_json())
        await self.records.purge(self.key(record.queue, record.id), revision)

    async def live(self, queue: str, task_id: str) -> tuple[TaskRecord, int] | None:
        """The record and revision of a task that is not finished, or ``None``.

        Finishes on the way what a crash or a lapse left: a finished record still in
        ``tasks`` is retired, and a task whose last lease lapsed is made dead and retired.
        """
        for _ in range(3):
            found = await self.load(queue, task_id)
            if found is None:
                return None
            record, revision = found
            if record.status not in FINISHED:
                if record.effective_status() is not TaskStatus.DEAD:
                    return found
                record.status, record.last_error = TaskStatus.DEAD.value, LEASE_EXPIRED
                written = await self.save(record, revision)
                if written is None:
                    continue  # changed meanwhile: look again
                revision = written
            await self.retire(record, revision)
            return None
        return None

    async def load_finished(self, queue: str, task_id: str) -> TaskRecord | None:
        """Read a retired record, or ``None`` when the task is not retained as finished."""
        completed, dead = await asyncio.gather(
            self.finished.get(self.finished_key(queue, task_id, TaskStatus.COMPLETED.value)),
            self.finished.get(self.finished_key(queue, task_id, TaskStatus.DEAD.value)),
        )
        found = [r for r in (completed, dead) if r is not None]
        if not found:
            return None
        return TaskRecord.from_json(max(found, key=lambda r: r[1])[0])  # the newer write

    # --- enqueue -----------------------------------------------------------------------------

    async def _enqueue(self, task: NewTask) -> None:
        record = TaskRecord.new(task, time.time_ns())
        key = self.key(task.queue, task.id)
        revision = await self.records.create(key, record.to_json())
        if revision is None:  # exists: re-announce a pending one, in case its message was lost
            found = await self.load(task.queue, task.id)
            if found is None or found[0].status != _PENDING:
                return
            record, revision = found
        if task.named and await self.load_finished(task.queue, task.id) is not None:
            # Finished and still retained: the record in `tasks` was created after the task
            # was retired (by this call or a racing one); take it back, nothing is added.
            await self.records.purge(key, revision)
            return
        if record.available_at > time.time():
            await self.publish_check(record, revision)
        else:
            await self.publish_ready(record, revision)

    # --- lease -------------------------------------------------------------------------------

    async def _lease(self, queue: str, visibility: float, wait: float) -> Lease | None:
        deadline = time.monotonic() + wait
        digest = queue_digest(queue)
        signal = await self._signal(digest) if wait > 0 else None
        while True:
            if signal is not None:
                signal.clear()
            got = await self._take_any(digest, visibility)
            remaining = deadline - time.monotonic()
            if got is not None or remaining <= 0 or signal is None:
                return got
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), min(remaining, _POLL))

    async def _signal(self, digest: str) -> asyncio.Event:
        """An event set whenever a ready message of the queue is published."""
        known = self._signals.get(digest)
        if known is not None:
            return known[0]
        event = asyncio.Event()

        async def on_msg(_: Msg) -> None:
            event.set()

        subject = f"{self._ns}.tq.{digest}.*"
        sub = await self._client.call(
            "watching a task queue", lambda: self._client.subscribe(subject, on_msg)
        )
        self._signals[digest] = (event, sub)
        return event

    async def _levels(self, digest: str) -> list[int]:
        """Priority levels that hold messages, highest first."""
        js = self._client.js
        pattern = f"{self._ns}.tq.{digest}.*"
        info = await self._client.call(
            "inspecting a task queue", lambda: js.stream_info(self.stream, subjects_filter=pattern)
        )
        subjects = info.state.subjects or {}
        levels = [int(s.rsplit(".", 1)[1]) for s, count in subjects.items() if count > 0]
        return sorted(levels, reverse=True)

    async def _take_any(self, digest: str, visibility: float) -> Lease | None:
        for priority in await self._levels(digest):
            puller = await self._puller(digest, priority)
            while msgs := await puller.pull(1, 0.0):
                got = await self._take(msgs[0], visibility)
                if got is not None:
                    return got
        return None

    async def _puller(self, digest: str, priority: int) -> Puller:
        puller = self._pullers.get((digest, priority))
        if puller is not None:
            return puller
        name = f"ready-{digest}-{priority}"
        config = ConsumerConfig(
            durable_name=name,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=_READY_ACK_WAIT,
            max_deliver=-1,
            filter_subject=self.ready_subject(digest, priority),
            max_ack_pending=_MAX_ACK_PENDING,
        )
        await self._client.call(
            "creating a task consumer", lambda: self._client.add_consumer(self.stream, config)
        )
        puller = Puller(self._client, self.stream, name)
        await puller.open()
        self._pullers[(digest, priority)] = puller
        return puller

    async def _take(self, msg: Msg, visibility: float) -> Lease | None:
        """Lease the task of a ready message if it is available; settle the message."""
        body = json.loads(msg.data)
        lease: Lease | None = None
        for _ in range(3):
            found = await self.live(str(body["q"]), str(body["id"]))
            if found is None:
                break  # finished, or unknown
            record, revision = found
            if record.effective_status() is not TaskStatus.PENDING or (
                record.available_at > time.time()
            ):
                # Leased elsewhere, or waiting: its check message wakes it. Publish that
                # again (deduplicated) in case its writer died before it could.
                await self.publish_check(record, revision)
                break
            if record.lapsed:
                record.last_error = LEASE_EXPIRED
            record.status = _LEASED
            record.attempts += 1
            record.token = _codec.new_id()
            record.expires_at = time.time() + visibility
            written = await self.save(record, revision)
            if written is None:
                continue
            await self.publish_check(record, written)
            lease = record.lease()
            break
        await self._ack(msg)
        return lease

    async def _ack(self, msg: Msg) -> None:
        nc = self._client.nc
        await self._client.call("settling a task message", lambda: nc.publish(msg.reply, b"+ACK"))

    # --- settle ------------------------------------------------------------------------------

    async def _current(self, lease: Lease) -> tuple[TaskRecord, int]:
        found = await self.load(lease.queue, lease.task_id)
        if found is None:
            finished = await self.load_finished(lease.queue, lease.task_id)
            raise stale(lease, "unknown" if finished is None else finished.status)
        record, revision = found
        if record.token != lease.token or record.status != _LEASED:
            raise stale(lease, record.effective_status().value)
        if record.lapsed and record.attempts >= record.max_attempts:
            raise stale(lease, record.effective_status().value)
        return record, revision

    async def _transition(self, lease: Lease, change: Callable[[TaskRecord], None]) -> TaskRecord:
        """Apply ``change`` to the lease's record with a revision check; retry on races."""
        while True:
            record, revision = await self._current(lease)
            change(record)
            written = await self.save(record, revision)
            if written is not None:
                if record.status in FINISHED:
                    await self.retire(record, written)
                else:
                    await self.publish_check(record, written)
                return record

    async def _complete(self, lease: Lease, result: str) -> None:
        value = _codec.parse_json(result)

        def done(record: TaskRecord) -> None:
            record.status, record.result, record.token = TaskStatus.COMPLETED.value, value, None

        await self._transition(lease, done)

    async def _fail(self, lease: Lease, error: str, retry: bool) -> None:
        def failed(record: TaskRecord) -> None:
            record.last_error = error
            record.token = None
            if retry and record.attempts < record.max_attempts:
                record.status = _PENDING
                record.available_at = time.time() + retry_delay(record.backoff, record.attempts)
            else:
                record.status = TaskStatus.DEAD.value

        await self._transition(lease, failed)

    async def _extend(self, lease: Lease, seconds: float) -> Lease:
        def longer(record: TaskRecord) -> None:
            record.expires_at = time.time() + seconds

        return (await self._transition(lease, longer)).lease()

    # --- inspect -----------------------------------------------------------------------------

    async def _get(self, queue: str, task_id: str) -> Task | None:
        found = await self.load(queue, task_id)  # before the retention bucket: see the module
        if found is not None:
            return found[0].snapshot()
        finished = await self.load_finished(queue, task_id)
        return None if finished is None else finished.snapshot()

    async def _dead(self, queue: str, limit: int) -> list[Task]:
        digest = queue_digest(queue)
        dead: dict[str, TaskRecord] = {}
        # `tasks` first: a record retired meanwhile is then found in `tasks_done`.
        async for _, stored, _ in self.records.items(f"{digest}.>"):
            record = TaskRecord.from_json(stored)
            if record.queue == queue and record.effective_status() is TaskStatus.DEAD:
                dead[record.id] = record
        prefix = _DONE_PREFIX[TaskStatus.DEAD.value]
        async for _, stored, _ in self.finished.items(f"{prefix}.{digest}.>"):
            record = TaskRecord.from_json(stored)
            if record.queue == queue:
                dead[record.id] = record
        ordered = sorted(dead.values(), key=lambda r: (r.order, r.enqueued_at))
        return [r.snapshot() for r in ordered[:limit]]

    async def close(self) -> None:
        """Release pullers and queue watchers (the backend is stopping)."""
        for puller in self._pullers.values():
            await puller.close()
        self._pullers.clear()
        for _, sub in self._signals.values():
            if self._client.connected:
                await self._client.quietly(sub.unsubscribe())
        self._signals.clear()
