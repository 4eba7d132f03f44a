"""Pull requests against one JetStream consumer, over a private inbox.

nats-py's ``fetch`` keeps a lingering request open for a whole batch; the protocols want
"return as soon as one message is there" and "poll without waiting", so this issues the
two request kinds JetStream offers directly: ``no_wait`` (take what is available now) and a
lingering request for one message with ``expires`` (wait for the next one).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import nats.js.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from memfun_runtime.backends.nats._client import NatsClient

__all__ = ["Puller", "durable_puller", "read_stream", "reader_config", "tail_start"]

_END = frozenset({"404", "408", "409"})
_READ_BATCH = 256
_SLACK = 0.5  # seconds to wait for the server's end-of-request status past ``expires``


class Puller:
    """Issues pull requests for ``consumer`` (durable or ephemeral) on ``stream``."""

    def __init__(self, client: NatsClient, stream: str, consumer: str) -> None:
        self._client = client
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: Subscription | None = None
        self._base = ""
        self._ids = itertools.count()
        self._wake = asyncio.Event()
        self._closed = False
        self._ended = False
        self._lock = asyncio.Lock()  # one request at a time: they share the inbox queue

    async def open(self) -> None:
        """Subscribe to the private inbox (idempotent)."""
        if self._sub is not None:
            return
        self._base = self._client.nc.new_inbox()

        async def on_msg(msg: Msg) -> None:
            self._queue.put_nowait(msg)
            self._wake.set()

        self._sub = await self._client.subscribe(
            f"{self._base}.*", on_msg, "subscribing to a pull inbox"
        )

    async def close(self) -> None:
        """Stop: a pending :meth:`pull` returns what it has. Idempotent."""
        self._closed = True
        self._wake.set()
        sub, self._sub = self._sub, None
        if sub is not None and self._client.connected:
            await self._client.quietly(sub.unsubscribe())

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def pull(self, batch: int, wait: float) -> list[Msg]:
        """Return up to ``batch`` messages, waiting up to ``wait`` seconds for the first.

        Concurrent callers take turns (their requests would share one inbox).

        Raises:
            BackendUnavailable: The server did not answer.
        """
        async with self._lock:
            out = self._drain(batch, None)
            if out or self._closed:
                return out
            out = await self._request(batch, 0.0)
            if out or wait <= 0 or self._closed:
                return out
            out = await self._request(1, wait)
            if out and batch > 1 and not self._closed:
                out.extend(await self._request(batch - 1, 0.0))
            return out

    async def pull_within(self, batch: int, expires: float) -> list[Msg]:
        """Return up to ``batch`` messages from one request that lingers up to ``expires``.

        Unlike :meth:`pull` this never sends a ``no_wait`` request: nats-server 2.9 leaves one
        unanswered when a message that was pending for the consumer disappeared meanwhile
        (a purge or a ``max_age`` expiry), whereas a lingering request always ends.

        Raises:
            BackendUnavailable: The connection is down.
        """
        async with self._lock:
            out = self._drain(batch, None)
            if out or self._closed:
                return out
            return await self._request(batch, expires)

    def _drain(self, batch: int, reply: str | None) -> list[Msg]:
        """Take queued messages, dropping statuses; note the end of request ``reply``."""
        out: list[Msg] = []
        while len(out) < batch and not self._queue.empty():
            msg = self._queue.get_nowait()
            status = _status(msg)
            if status is None:
                out.append(msg)
            elif status in _END and reply is not None and msg.subject == reply:
                self._ended = True
        return out

    async def _request(self, batch: int, wait: float) -> list[Msg]:
        """Send one pull request and collect its messages until it ends."""
        reply = f"{self._base}.{next(self._ids)}"
        request: dict[str, object] = {"batch": batch}
        if wait > 0:
            request["expires"] = max(int(wait * 1e9) - 100_000, 1_000_000)
        else:
            request["no_wait"] = True
        await self._client.publish(
            self._api, json.dumps(request).encode(), "requesting messages", reply
        )
        patience = wait + _SLACK if wait > 0 else self._client.timeout
        deadline = time.monotonic() + patience
        out: list[Msg] = []
        self._ended = False
        while len(out) < batch and not self._ended and not self._closed:
            out.extend(self._drain(batch - len(out), reply))
            if len(out) >= batch or self._ended:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not out and wait <= 0:
                    raise self._client.unavailable("requesting messages", "no reply")
                break
            self._wake.clear()
            if self._queue.empty():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)
        if not out and not self._client.connected:
            raise self._client.unavailable("requesting messages", "disconnected")
        return out


def _status(msg: Msg) -> str | None:
    headers = msg.headers
    if not headers or msg.data:
        return None
    return headers.get("Status")


async def read_stream(
    client: NatsClient,
    stream: str,
    config: ConsumerConfig,
    *,
    limit: int | None = None,
    patience: float = 0.0,
) -> AsyncIterator[Msg]:
    """Yield what an ephemeral, unacked consumer with ``config`` sees right now.

    The consumer is created, read up to what was pending at creation (or ``limit``), and
    deleted. ``patience`` > 0 reads with lingering requests of that many seconds instead of
    ``no_wait`` ones (see :meth:`Puller.pull_within`), for streams whose messages may vanish
    while they are read; it then costs up to twice ``patience`` when some did.
    """
    js = client.js
    info = await client.call(f"reading {stream}", lambda: client.add_consumer(stream, config))
    remaining = info.num_pending or 0
    if limit is not None:
        remaining = min(remaining, limit)
    puller = Puller(client, stream, info.name)
    try:
        await puller.open()
        while remaining > 0:
            size = min(remaining, _READ_BATCH)
            if patience > 0:
                msgs = await puller.pull_within(size, patience)
            else:
                msgs = await puller.pull(size, 0.0)
            if not msgs:
                return
            for msg in msgs[:remaining]:
                yield msg
            remaining -= len(msgs)
    finally:
        await puller.close()
        if client.connected:  # otherwise the server drops it after its inactive threshold
            await client.quietly(js.delete_consumer(stream, info.name))


async def tail_start(client: NatsClient, stream: str, subject: str, count: int) -> int | None:
    """A sequence of ``stream`` from which ``subject`` has its newest ``count`` messages.

    JetStream reads forward only, but a consumer created at a start sequence reports how many
    messages of its subject follow (``num_pending``, counted by the server; nothing is sent).
    Windows growing 4x back from the subject's last message find a start with at least
    ``count`` of them (the first sequence when the subject has fewer), then halving narrows it
    to at most 4x ``count`` (unless one sequence step is left). Each probe is one consumer made
    and deleted: one probe when the subject's newest messages are close together, and a
    number that grows with the logarithm of the distance otherwise, never with the history.

    Returns:
        The start sequence, or ``None`` when ``subject`` has no message.
    """
    js = client.js

    async def last_sequence() -> int | None:
        try:
            return (await js.get_last_msg(stream, subject)).seq
        except nats.js.errors.NotFoundError:
            return None

    last = await client.call(f"reading {subject}", last_sequence)
    if last is None:
        return None
    high, width = last + 1, count
    while True:  # invariant: fewer than `count` from `high` on
        low = max(last + 1 - width, 1)  # the server starts a consumer at its first one
        found = await _count_from(client, stream, subject, low)
        if found >= count or low == 1:
            break
        high, width = low, width * 4
    while found > 4 * count and high - low > 1:
        middle = (low + high) // 2
        counted = await _count_from(client, stream, subject, middle)
        if counted >= count:
            low, found = middle, counted
        else:
            high = middle
    return low


async def _count_from(client: NatsClient, stream: str, subject: str, start: int) -> int:
    """How many messages of ``subject`` ``stream`` holds from sequence ``start`` on."""
    config = reader_config(
        subject, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
    )
    info = await client.call(f"counting {subject}", lambda: client.add_consumer(stream, config))
    await client.quietly(client.js.delete_consumer(stream, info.name))
    return info.num_pending or 0


def reader_config(subject: str, **options: Any) -> ConsumerConfig:
    """An ephemeral, in-memory, unacknowledged consumer on ``subject``."""
    return ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        filter_subject=subject,
        inactive_threshold=60.0,
        mem_storage=True,
        **options,
    )


async def durable_puller(
    client: NatsClient,
    stream: str,
    name: str,
    subject: str,
    ack_wait: float,
    *,
    max_ack_pending: int,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
) -> Puller:
    """Create or update durable consumer ``name`` (explicit acks, no delivery limit); pull it."""
    config = ConsumerConfig(
        durable_name=name,
        deliver_policy=deliver_policy,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        filter_subject=subject,
        max_ack_pending=max_ack_pending,
    )
    await client.call(f"creating consumer {name!r}", lambda: client.add_consumer(stream, config))
    puller = Puller(client, stream, name)
    await puller.open()
    return puller
