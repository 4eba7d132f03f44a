"""The task queue on a JetStream work-queue stream plus revision-checked KV records.

See :mod:`._taskrec` for the layout. Leasing takes a *ready* message of the highest
non-empty priority, flips the record to ``leased`` with a revision-checked update (exactly
one worker wins), publishes a *check* message that fires at the lease's expiry, and acks the
ready message. Delays, retry backoffs and lease expiries are check messages, read by every
started backend through the shared durable consumer ``checks``: one not due yet is given back
with ``-NAK {"delay"}`` (NATS 2.9 has no scheduled messages), a due one republishes the task
as ready (or makes it dead). Messages are idempotent (``Nats-Msg-Id`` by record revision) and
every handler re-reads the record, so a crash between two steps only delays a task: a ready
message whose task is leased elsewhere or not due republishes its check message, so a worker
killed between leasing and scheduling the lease's expiry does not strand the task.

A finished task is copied to ``<ns>_tasks_done``, then purged from ``<ns>_tasks`` at the
finished revision; readers look in ``tasks`` first, so it is always found while retained, and
whoever finds a finished record still in ``tasks`` (a crash cut the move short) finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import RetentionPolicy, StreamConfig

from memfun_core.errors import MemfunError
from memfun_runtime import _codec
from memfun_runtime.backends._tasks_base import (
    LEASE_EXPIRED,
    NewTask,
    TaskQueueBase,
    retry_delay,
    stale,
)
from memfun_runtime.backends.nats._client import NatsClient, stream_config
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.backends.nats._pull import Puller, durable_puller
from memfun_runtime.backends.nats._taskrec import FINISHED, TaskRecord, queue_digest
from memfun_runtime.protocols import Lease, Task, TaskStatus

__all__ = ["NatsTaskQueue"]

_log = logging.getLogger("memfun_runtime.nats")
_ACK_WAIT = 10.0  # seconds a fetched message may stay unsettled (a crash while handling it)
_POLL = 0.25  # seconds between re-checks while a lease waits (lapsed leases are not published)
_MAX_ACK_PENDING = 100_000
_CHECK_BATCH = 64
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
        self.stream = client.name("TASKS")
        self._ns = client.namespace
        self._pullers: dict[tuple[str, int], Puller] = {}
        self._signals: dict[str, tuple[asyncio.Event, Subscription]] = {}
        self._checker: tuple[Puller, asyncio.Task[None]] | None = None

    def spec(self) -> StreamConfig:
        """The work-queue stream this queue needs."""
        subjects = [f"{self._ns}.tq.>", f"{self._ns}.tc.>"]
        return stream_config(
            self.stream, subjects, retention=RetentionPolicy.WORK_QUEUE, dedupe=120.0
        )

    async def open(self) -> None:
        """Create both buckets (sets the retention of finished records); start the checker."""
        await self.records.open()
        await self.finished.open()
        if self._checker is None:
            puller = await durable_puller(
                self._client,
                self.stream,
                "checks",
                f"{self._ns}.tc.>",
                _ACK_WAIT,
                max_ack_pending=_MAX_ACK_PENDING,
            )
            loop = asyncio.create_task(self._run_checks(puller), name="memfun-nats-checker")
            self._checker = puller, loop

    async def close(self) -> None:
        """Stop the checker; release pullers and queue watchers (the backend is stopping)."""
        checker, self._checker = self._checker, None
        if checker is not None:
            await checker[0].close()
            checker[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker[1]
        for puller in self._pullers.values():
            await puller.close()
        self._pullers.clear()
        for _, sub in self._signals.values():
            if self._client.connected:
                await self._client.quietly(sub.unsubscribe())
        self._signals.clear()

    @staticmethod
    def key(queue: str, task_id: str) -> str:
        """The record's KV key."""
        return f"{queue_digest(queue)}.{task_id}"

    @staticmethod
    def finished_key(queue: str, task_id: str, status: str) -> str:
        """The key of a retired record: ``C.`` (completed) or ``D.`` (dead) + its KV key."""
        return f"{_DONE_PREFIX[status]}.{queue_digest(queue)}.{task_id}"

    # --- records and messages ----------------------------------------------------------------

    async def _schedule(self, record: TaskRecord, revision: int, *, ready: bool) -> None:
        """Publish a ready message (lease me now) or a check message (look when due)."""
        digest = queue_digest(record.queue)
        if ready:
            subject, msg_id = f"{self._ns}.tq.{digest}.{record.priority}", f"r-{record.id}"
        else:
            subject, msg_id = f"{self._ns}.tc.{digest}", f"c-{record.id}"
        body = json.dumps({"q": record.queue, "id": record.id}).encode()
        js = self._client.js
        headers = {"Nats-Msg-Id": f"{msg_id}-{revision}"}
        await self._client.call(
            f"scheduling task {record.id!r}",
            lambda: js.publish(subject, body, headers=headers, stream=self.stream),
        )

    async def _settle(self, msg: Msg, body: bytes = b"+ACK") -> None:
        await self._client.publish(msg.reply, body, "settling a task message")

    async def load(self, queue: str, task_id: str) -> tuple[TaskRecord, int] | None:
        """Read a task's record and revision."""
        found = await self.records.get(self.key(queue, task_id))
        return None if found is None else (TaskRecord.from_json(found[0]), found[1])

    async def save(self, record: TaskRecord, revision: int) -> int | None:
        """Write ``record`` if it is still at ``revision``; the new revision or ``None``."""
        key = self.key(record.queue, record.id)
        return await self.records.update(key, record.to_json(), revision)

    async def _retire(self, record: TaskRecord, revision: int) -> None:
        """Copy a finished record to ``tasks_done``, then purge it at ``revision`` (idempotent)."""
        key = self.finished_key(record.queue, record.id, record.status)
        await self.finished.put(key, record.to_json())
        await self.records.purge(self.key(record.queue, record.id), revision)

    async def _live(self, queue: str, task_id: str) -> tuple[TaskRecord, int] | None:
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
            await self._retire(record, revision)
            return None
        return None

    async def _load_finished(self, queue: str, task_id: str) -> TaskRecord | None:
        keys = [self.finished_key(queue, task_id, status) for status in _DONE_PREFIX]
        found = [r for r in await asyncio.gather(*map(self.finished.get, keys)) if r is not None]
        return TaskRecord.from_json(max(found, key=lambda r: r[1])[0]) if found else None

    # --- checks ------------------------------------------------------------------------------

    async def _run_checks(self, puller: Puller) -> None:
        while not puller.closed:
            try:
                for msg in await puller.pull(_CHECK_BATCH, 1.0):
                    await self._check(msg)
            except MemfunError as exc:  # an outage: keep going once the server is back
                _log.debug("task checker: %s", exc)
                await asyncio.sleep(0.25)

    async def _check(self, msg: Msg) -> None:
        body = json.loads(msg.data)
        found = await self._live(str(body["q"]), str(body["id"]))
        if found is not None:  # pending (delayed or backing off) or leased
            record, revision = found
            due = record.available_at if record.status == _PENDING else record.expires_at
            wait = due - time.time()
            if wait > 0:  # JetStream holds the message and redelivers it on time
                await self._settle(msg, b'-NAK {"delay": %d}' % max(int(wait * 1e9), 1_000_000))
                return
            await self._schedule(record, revision, ready=True)
        await self._settle(msg)

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
        if task.named and await self._load_finished(task.queue, task.id) is not None:
            # Finished and still retained: the record in `tasks` was created after the task
            # was retired (by this call or a racing one); take it back, nothing is added.
            await self.records.purge(key, revision)
            return
        await self._schedule(record, revision, ready=record.available_at <= time.time())

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
        sub = await self._client.subscribe(subject, on_msg, "watching a task queue")
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
            puller = self._pullers.get((digest, priority))
            if puller is None:
                name, subject = f"ready-{digest}-{priority}", f"{self._ns}.tq.{digest}.{priority}"
                puller = await durable_puller(
                    self._client,
                    self.stream,
                    name,
                    subject,
                    _ACK_WAIT,
                    max_ack_pending=_MAX_ACK_PENDING,
                )
                self._pullers[(digest, priority)] = puller
            while msgs := await puller.pull(1, 0.0):
                got = await self._take(msgs[0], visibility)
                if got is not None:
                    return got
        return None

    async def _take(self, msg: Msg, visibility: float) -> Lease | None:
        """Lease the task of a ready message if it is available; settle the message."""
        body = json.loads(msg.data)
        lease: Lease | None = None
        for _ in range(3):
            found = await self._live(str(body["q"]), str(body["id"]))
            if found is None:
                break  # finished, or unknown
            record, revision = found
            if record.effective_status() is not TaskStatus.PENDING or (
                record.available_at > time.time()
            ):
                # Leased elsewhere, or waiting: its check message wakes it. Publish that
                # again (deduplicated) in case its writer died before it could.
                await self._schedule(record, revision, ready=False)
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
            await self._schedule(record, written, ready=False)
            lease = record.lease()
            break
        await self._settle(msg)
        return lease

    # --- settle ------------------------------------------------------------------------------

    async def _current(self, lease: Lease) -> tuple[TaskRecord, int]:
        found = await self.load(lease.queue, lease.task_id)
        if found is None:
            finished = await self._load_finished(lease.queue, lease.task_id)
            raise stale(lease, "unknown" if finished is None else finished.status)
        record, revision = found
        if (
            record.token != lease.token
            or record.status != _LEASED
            or (record.lapsed and record.attempts >= record.max_attempts)
        ):
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
                    await self._retire(record, written)
                else:
                    await self._schedule(record, written, ready=False)
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
        finished = await self._load_finished(queue, task_id)
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
