"""The event bus on Redis Streams: one stream per topic, consumer groups, a due set per group."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Self

from memfun_core.errors import BackendUnavailable, ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.redis import _lua_events as lua
from memfun_runtime.backends.redis._batch import Coalescer
from memfun_runtime.backends.redis._client import TIER, RedisClient, seconds_to_ms, text
from memfun_runtime.protocols import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DEDUPE_WINDOW,
    DEFAULT_MAX_DELIVERIES,
    Delivery,
    Event,
    EventBus,
    JSONValue,
    StartPosition,
    Subscription,
)

__all__ = ["RedisEventBus"]

_OFFSET = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_REPLAY_BATCH = 256
_ITER_BATCH = 16
_MAX_BLOCK = 2.0
"""Longest single blocking read; a fetch with a longer timeout blocks several times."""


def _fields(flat: list[Any]) -> dict[str, str]:
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _event(topic: str, offset: str, fields: dict[str, str]) -> Event:
    where = f"{topic}/{offset}"
    head = fields.get("h", "{}")
    headers: dict[str, str] = (
        {} if head == "{}" else _codec.decode_json(head, backend=TIER, location=where)
    )
    return Event(
        id=fields.get("i", offset),
        topic=topic,
        payload=_codec.decode_json(fields.get("p", "null"), backend=TIER, location=where),
        headers=headers,
        timestamp=float(fields.get("t", "0") or 0),
        offset=offset,
    )


class RedisEventBus(EventBus):
    """:class:`~memfun_runtime.protocols.EventBus` on Redis Streams (see the protocol).

    Each topic is a stream; each group a stream consumer group. Redelivery after the ack
    timeout (or a nack's delay) is driven by a per-group sorted set of due times that every
    fetch consults atomically with ``XPENDING``/``XCLAIM`` in one Lua script, so each
    subscription's own ``ack_timeout`` is honoured. Dead letters are ``XADD``-ed to the
    dead-letter topic's stream and ``XACK``-ed in the same script.

    Args:
        client: The shared connection.
        dedupe_window: Seconds an ``event_id`` is remembered (a ``SET NX PX`` key).
        max_events_per_topic: Approximate ``MAXLEN`` of each stream.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
    ) -> None:
        self._client = client
        self._window_ms = seconds_to_ms(_codec.check_positive(dedupe_window, field="dedupe_window"))
        self.maxlen = str(
            _codec.check_int(max_events_per_topic, field="max_events_per_topic", minimum=1)
        )
        self._subscriptions: set[RedisSubscription] = set()
        self._publisher = Coalescer(self._publish_batch, max_batch=128)

    @property
    def client(self) -> RedisClient:
        """The shared connection."""
        return self._client

    def stream(self, topic: str) -> str:
        """The stream key of ``topic``."""
        return self._client.key("ev", topic)

    async def publish(
        self,
        topic: str,
        payload: JSONValue,
        *,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Append an event to ``topic`` and return its id (see the protocol)."""
        _codec.check_name(topic, field="topic")
        body = _codec.encode_json(payload)
        head = "{}" if headers is None else _codec.encode_json(_codec.check_headers(headers))
        if event_id is not None:
            _codec.check_name(event_id, field="event_id")
        eid = event_id or _codec.new_id()
        dedupe = "" if event_id is None else self._client.key("evd", topic, event_id)
        await self._publisher.submit((self.stream(topic), dedupe, eid, body, head))
        return eid

    async def _publish_batch(self, items: list[tuple[str, str, str, str, str]]) -> list[object]:
        """Store a batch of encoded events with one script call (one round trip)."""
        keys: list[str] = []
        args: list[str | int] = [self.maxlen, self._window_ms]
        for stream, dedupe, eid, body, head in items:
            keys += (stream, dedupe)
            args += (eid, body, head)
        script = self._client.script(lua.PUBLISH)
        return list(await self._client.run("publish", lambda r: script(keys, args, r)))

    async def subscribe(
        self,
        topic: str,
        group: str,
        *,
        consumer: str | None = None,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        dead_letter_topic: str | None = None,
        start: StartPosition = "new",
    ) -> RedisSubscription:
        """Join (creating it if needed) consumer group ``group`` on ``topic``."""
        name, timeout, limit, dead = _codec.check_subscription(
            topic, group, consumer=consumer, ack_timeout=ack_timeout,
            max_deliveries=max_deliveries, dead_letter_topic=dead_letter_topic, start=start,
        )  # fmt: skip
        await self._create_group(topic, group, "$" if start == "new" else "0")
        subscription = RedisSubscription(
            self,
            topic,
            group,
            consumer=name,
            ack_timeout=timeout,
            max_deliveries=limit,
            dead_letter_topic=dead,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def _create_group(self, topic: str, group: str, position: str) -> None:
        stream = self.stream(topic)
        busy = self._client.response_error

        async def create(r: Any) -> None:
            try:
                await r.xgroup_create(stream, group, id=position, mkstream=True)
            except busy as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

        await self._client.run("subscribe", create)

    async def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """Yield the retained log of ``topic`` in order (see the protocol)."""
        _codec.check_name(topic, field="topic")
        if from_offset is not None and from_time is not None:
            raise ValidationError(
                "give from_offset or from_time, not both",
                field="from_offset",
                rule="at most one start position",
            )
        if limit is not None:
            _codec.check_int(limit, field="limit", minimum=0)
        start = "-"
        if from_offset is not None:
            start = _check_offset(from_offset)
        elif from_time is not None:
            moment = _codec.check_non_negative(from_time, field="from_time")
            # Stream ids carry the server's millisecond; start a second early and filter on
            # the stored time so an event of the same millisecond is never skipped.
            start = f"{max(math.floor(moment * 1000) - 1000, 0)}-0"
        stream = self.stream(topic)
        newest = await self._client.run("replay", lambda r: r.xrevrange(stream, "+", "-", count=1))
        if not newest:
            return
        end = text(newest[0][0])
        count = 0
        while limit is None or count < limit:
            batch = await self._client.run(
                "replay", lambda r, s=start: r.xrange(stream, s, end, count=_REPLAY_BATCH)
            )
            for offset, flat in batch:
                event = _event(topic, text(offset), _as_dict(flat))
                if from_time is not None and event.timestamp < from_time:
                    continue
                if limit is not None and count >= limit:
                    return
                count += 1
                yield event
            if len(batch) < _REPLAY_BATCH:
                return
            start = "(" + text(batch[-1][0])

    async def close_all(self) -> None:
        """Close every open subscription (the backend is stopping)."""
        for subscription in list(self._subscriptions):
            await subscription.close()

    def forget(self, subscription: RedisSubscription) -> None:
        """Drop a closed subscription from the open set."""
        self._subscriptions.discard(subscription)


def _as_dict(flat: Any) -> dict[str, str]:
    if isinstance(flat, dict):
        return {text(k): text(v) for k, v in flat.items()}  # pyright: ignore[reportUnknownVariableType]
    return _fields(list(flat))


def _check_offset(offset: object) -> str:
    if not isinstance(offset, str) or _OFFSET.fullmatch(offset) is None:
        raise ValidationError(
            f"{offset!r} is not an offset of this tier",
            field="from_offset",
            rule="an Event.offset returned by this backend (a Redis stream id)",
            hint="pass the offset attribute of an event read from the same topic",
        )
    return offset


class RedisDelivery(Delivery):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("_attempt", "_event", "_subscription")

    def __init__(self, subscription: RedisSubscription, event: Event, attempt: int) -> None:
        self._subscription = subscription
        self._event = event
        self._attempt = attempt

    @property
    def event(self) -> Event:
        """The delivered event."""
        return self._event

    @property
    def attempt(self) -> int:
        """1 for the first delivery to the group, then 2, 3, ..."""
        return self._attempt

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._subscription.group

    @property
    def consumer(self) -> str:
        """The consumer that received it."""
        return self._subscription.consumer

    async def ack(self) -> None:
        """Settle the event for the group (``XACK``; idempotent, first ack wins)."""
        await self._subscription.acker.submit(self._event.offset)

    async def nack(self, delay: float | None = None) -> None:
        """Give the event back for redelivery after ``delay`` seconds, or dead-letter it."""
        wait = 0.0 if delay is None else _codec.check_non_negative(delay, field="delay")
        await self._subscription.nack(self._event.offset, self._attempt, wait)


class RedisSubscription(Subscription):
    """One consumer of a group (see the protocol)."""

    def __init__(
        self,
        bus: RedisEventBus,
        topic: str,
        group: str,
        *,
        consumer: str,
        ack_timeout: float,
        max_deliveries: int,
        dead_letter_topic: str,
    ) -> None:
        self._bus = bus
        self._topic = topic
        self._group = group
        self._consumer = consumer
        self._ack_ms = seconds_to_ms(ack_timeout)
        self.max_deliveries = max_deliveries
        self.dead_letter_topic = dead_letter_topic
        client = bus.client
        self._keys = (
            bus.stream(topic),
            client.key("evq", topic, group),
            bus.stream(dead_letter_topic),
            client.key("evw", topic, group),
        )
        self.acker: Coalescer[str, object] = Coalescer(self._ack_batch, max_batch=512)
        self._closed = asyncio.Event()

    @property
    def topic(self) -> str:
        """The consumed topic."""
        return self._topic

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._group

    @property
    def consumer(self) -> str:
        """This consumer's name."""
        return self._consumer

    async def _ack_batch(self, offsets: list[str]) -> list[object]:
        """Acknowledge a batch of deliveries with one script call (one round trip)."""
        client = self._bus.client
        script = client.script(lua.ACK)
        keys, args = self._keys[:2], (self._group, *offsets)
        await client.run("ack", lambda r: script(keys, args, r))
        return [None] * len(offsets)

    def _settings(self) -> tuple[str, str, str]:
        return (str(self.max_deliveries), self._topic, self._bus.maxlen)

    async def fetch(
        self,
        max_messages: int = 1,
        *,
        timeout: float = 1.0,  # noqa: ASYNC109 - a bounded wait is the contract
    ) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for at most ``max_messages`` deliveries."""
        _codec.check_int(max_messages, field="max_messages", minimum=1)
        limit = _codec.check_non_negative(timeout, field="timeout")
        self._check_open()
        client = self._bus.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        script = client.script(lua.FETCH)
        args = (
            self._group,
            self._consumer,
            max_messages,
            self._ack_ms,
            *self._settings(),
            _codec.new_id()[:24],
        )
        while True:
            reply = await client.run("fetch", lambda r: script(self._keys, args, r))
            out, last, woke, due, server_now = reply
            if out or self._closed.is_set():
                return [self._delivery(item) for item in out]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            if due:
                remaining = min(remaining, max((float(due) - float(server_now)) / 1000, 0.001))
            await self._wait(min(remaining, _MAX_BLOCK), text(last), text(woke))

    async def _wait(self, seconds: float, last: str, woke: str) -> None:
        """Block until a new event or a nack wake-up arrives, the time passes, or close."""
        stream, wake = self._keys[0], self._keys[3]
        client = self._bus.client
        # Block for less than the socket timeout, so a blocked read is not taken for an outage.
        block = seconds_to_ms(min(seconds, client.timeout / 2))
        read = asyncio.ensure_future(
            client.run(
                "fetch",
                lambda r: r.xread({stream: last, wake: woke}, count=1, block=block),
                timeout=client.timeout + seconds,
            )
        )
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((read, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not read.done():
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)
        if read.done() and not read.cancelled():
            read.result()

    def _delivery(self, item: list[Any]) -> RedisDelivery:
        offset, attempt, flat = item
        event = _event(self._topic, text(offset), _fields(list(flat)))
        return RedisDelivery(self, event, int(attempt))

    async def nack(self, offset: str, attempt: int, delay: float) -> None:
        """Give back the delivery ``offset``/``attempt`` if it is still this consumer's."""
        client = self._bus.client
        script = client.script(lua.NACK)
        args = (
            self._group,
            self._consumer,
            offset,
            attempt,
            int(delay * 1000),
            *self._settings(),
            _codec.new_id()[:24],
        )
        await client.run("nack", lambda r: script(self._keys, args, r))

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise ConflictError(
                f"the subscription of consumer {self._consumer!r} to {self._topic!r} is closed",
                hint="subscribe again to keep consuming",
            )

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        """Yield deliveries as they arrive until the subscription is closed."""
        while not self._closed.is_set():
            for delivery in await self.fetch(_ITER_BATCH, timeout=1.0):
                yield delivery

    async def close(self) -> None:
        """Stop receiving; wake a pending fetch; forget the consumer if it holds nothing."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._bus.forget(self)
        client = self._bus.client
        if client.started:
            script = client.script(lua.CLOSE)
            keys, args = (self._keys[0],), (self._group, self._consumer)
            try:
                await client.run("close", lambda r: script(keys, args, r))
            except BackendUnavailable:  # closing must not fail on an outage
                return

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
