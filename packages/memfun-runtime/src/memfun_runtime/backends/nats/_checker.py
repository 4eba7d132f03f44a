"""The background loop that wakes delayed, backing-off and lapsed tasks.

Every started backend runs one; they share the durable consumer ``checks`` on the task
stream's check subjects, so each check message is handled by one of them. A check message
that is not due yet is given back with ``-NAK {"delay": <until due>}``: JetStream holds it
and redelivers it on time, which is how NATS 2.9 (no scheduled messages) delays work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from memfun_core.errors import MemfunError
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._pull import Puller
from memfun_runtime.backends.nats._tasks import NatsTaskQueue
from memfun_runtime.protocols import TaskStatus

__all__ = ["Checker"]

_log = logging.getLogger("memfun_runtime.nats")
_NAME = "checks"
_BATCH = 64
_ACK_WAIT = 10.0
_MAX_ACK_PENDING = 100_000
_PENDING = TaskStatus.PENDING.value


class Checker:
    """Handles due check messages of every queue of the namespace (see the module)."""

    def __init__(self, client: NatsClient, tasks: NatsTaskQueue) -> None:
        self._client = client
        self._tasks = tasks
        self._puller: Puller | None = None
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the consumer and start the loop (idempotent)."""
        if self._loop is not None:
            return
        config = ConsumerConfig(
            durable_name=_NAME,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=_ACK_WAIT,
            max_deliver=-1,
            filter_subject=f"{self._client.namespace}.tc.>",
            max_ack_pending=_MAX_ACK_PENDING,
        )
        stream = self._tasks.stream
        await self._client.call(
            "creating the task checker", lambda: self._client.add_consumer(stream, config)
        )
        self._puller = Puller(self._client, stream, _NAME)
        await self._puller.open()
        self._loop = asyncio.create_task(self._run(self._puller), name="memfun-nats-checker")

    async def stop(self) -> None:
        """Stop the loop (idempotent)."""
        loop, self._loop = self._loop, None
        puller, self._puller = self._puller, None
        if puller is not None:
            await puller.close()
        if loop is not None:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def _run(self, puller: Puller) -> None:
        while not puller.closed:
            try:
                for msg in await puller.pull(_BATCH, 1.0):
                    await self._handle(msg)
            except MemfunError as exc:  # an outage: keep going once the server is back
                _log.debug("task checker: %s", exc)
                await asyncio.sleep(0.25)

    async def _handle(self, msg: Msg) -> None:
        body = json.loads(msg.data)
        found = await self._tasks.live(str(body["q"]), str(body["id"]))
        if found is not None:  # pending (delayed or backing off) or leased
            record, revision = found
            due = record.available_at if record.status == _PENDING else record.expires_at
            wait = due - time.time()
            if wait > 0:
                await self._later(msg, wait)
                return
            await self._tasks.publish_ready(record, revision)
        await self._settle(msg, b"+ACK")

    async def _later(self, msg: Msg, seconds: float) -> None:
        await self._settle(msg, b'-NAK {"delay": %d}' % max(int(seconds * 1e9), 1_000_000))

    async def _settle(self, msg: Msg, body: bytes) -> None:
        nc = self._client.nc
        await self._client.call("settling a check message", lambda: nc.publish(msg.reply, body))
