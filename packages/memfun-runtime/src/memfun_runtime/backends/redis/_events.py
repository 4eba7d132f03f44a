"""The event bus on Redis Streams: one stream per topic, one stream consumer group per group.

Where each part lives and which Lua script changes it: see :mod:`._lua_events`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncGenerator
from typing import Any, cast

from memfun_core.errors import BackendUnavailable, InternalError
from memfun_runtime import _codec
from memfun_runtime.backends._delivery import (
    DeliveryBase,
    EventBusBase,
    Member,
    SubscriptionBase,
    bad_offset,
    new_event,
)
from memfun_runtime.backends.redis import _lua_events as lua
from memfun_runtime.backends.redis._batch import Coalescer
from memfun_runtime.backends.redis._client import (
    TIER,
    RedisClient,
    fields,
    seconds_to_ms,
    text,
)
from memfun_runtime.backends.redis._names import TOPICS
from memfun_runtime.protocols import Delivery, Event, JSONValue

__all__ = ["RedisEventBus"]

_OFFSET = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
_REPLAY_BATCH = 256
_MAX_BLOCK = 2.0
"""Longest single blocking read; a fetch with a longer timeout blocks several times."""
_PLAIN = 4
"""Length of the field list of an entry without headers: ``i``, id, ``p``, payload."""
_INLINE = 1024
"""Bytes of payload and headers up to which an event without an id is stored by the batch
script; larger ones are plain ``XADD``s, since a script copies its arguments twice."""

_Item = tuple[str, str, str, bytes, bytes]
"""An encoded event: stream key, dedupe key ('' = none), event id, payload, headers."""
_Command = tuple[int, int, tuple[Any, ...]]
"""One command of a publish batch: the events ``[start, end)`` it stores, and its words."""


def _event(topic: str, offset: str, flat: list[Any]) -> Event:
    """Decode a stream entry (``i`` id, ``p`` payload, optional ``h`` headers)."""
    where = f"{topic}/{offset}"
    if len(flat) == _PLAIN and flat[0] == "i" and flat[2] == "p":  # as publish writes it
        eid, body, head, stamp = flat[1], flat[3], "{}", ""
    else:
        f = fields(flat)
        eid, body, head = f.get("i", offset), f.get("p", "null"), f.get("h", "{}")
        stamp = f.get("t", "")  # written by earlier versions: the server's time
    headers: dict[str, str] = (
        {} if head == "{}" else _codec.decode_json(head, backend=TIER, location=where)
    )
    payload = _codec.decode_json(body, backend=TIER, location=where)
    # The stream id starts with the server's millisecond when it stored the entry.
    timestamp = float(stamp) if stamp else int(offset.partition("-")[0]) / 1000
    return new_event(eid, topic, payload, headers, timestamp, offset)


class RedisEventBus(EventBusBase["RedisSubscription", bytes]):
    """:class:`~memfun_runtime.protocols.EventBus` on Redis Streams (see the protocol).

    Concurrent publishes (and the events of one ``publish_many``) share one round trip;
    concurrent acks of one subscription are one ``XACK``.

    Args:
        client: The shared connection.
        dedupe_window: Seconds an ``event_id`` is remembered (a ``SET NX PX`` key).
        max_events_per_topic: Approximate ``MAXLEN`` of each stream.
    """

    def __init__(
        self, client: RedisClient, *, dedupe_window: float, max_events_per_topic: int
    ) -> None:
        super().__init__()
        self.client = client
        self._window_ms = seconds_to_ms(_codec.check_positive(dedupe_window, field="dedupe_window"))
        self.maxlen = str(
            _codec.check_int(max_events_per_topic, field="max_events_per_topic", minimum=1)
        )
        self._publisher: Coalescer[list[_Item], object] = Coalescer(
            self._publish_batch, max_batch=256
        )

    def stream(self, topic: str) -> str:
        """The stream key of ``topic``."""
        return self.client.key("ev", topic)

    def _encode(self, payload: JSONValue, field: str) -> bytes:
        return _codec.encode_json(payload, field=field).encode()

    async def _publish_many(
        self,
        topic: str,
        payloads: list[bytes],
        headers: dict[str, str],
        event_ids: list[str | None],
    ) -> list[str]:
        stream = self.stream(topic)
        head = _codec.encode_json(headers).encode() if headers else b""
        items: list[_Item] = []
        ids: list[str] = []
        for body, event_id in zip(payloads, event_ids, strict=True):
            if event_id is None:
                eid, dedupe = _codec.new_id(), ""
            else:
                eid, dedupe = event_id, self.client.key("evd", topic, event_id)
            items.append((stream, dedupe, eid, body, head))
            ids.append(eid)
        await self._publisher.submit(items)
        return ids

    async def _publish_batch(self, calls: list[list[_Item]]) -> list[object]:
        """Store the events of a batch of calls in one round trip, in order.

        Every call gets its own outcome: ``None``, or the error of its first refused event
        (the other calls of the batch are not affected).
        """
        items = [item for call in calls for item in call]
        client = self.client
        commands = self._commands(items, (await client.loaded(lua.PUBLISH_MANY)).sha)
        packed = b"".join([client.pack(words) for _, _, words in commands])
        replies = await client.send("publish", packed, len(commands))
        results: list[object] = [None] * len(items)
        for (start, end, words), reply in zip(commands, replies, strict=True):
            answer = reply
            if isinstance(reply, client.no_script):
                # The server lost its script cache (a restart, SCRIPT FLUSH): send the source.
                retry = client.pack(("EVAL", lua.PUBLISH_MANY, *words[2:]))
                [answer] = await client.send("publish", retry, 1)
            if isinstance(answer, Exception):
                results[start:end] = [client.refused("publish", answer)] * (end - start)
            elif isinstance(answer, list):  # PUBLISH_MANY: 1 stored, 0 duplicate, or an error
                for k, status in enumerate(cast("list[object]", answer), start):
                    if isinstance(status, str):
                        results[k] = client.refused("publish", status)
        outcomes: list[object] = []
        start = 0
        for call in calls:
            refused = [r for r in results[start : start + len(call)] if r is not None]
            outcomes.append(refused[0] if refused else None)
            start += len(call)
        return outcomes

    def _commands(self, items: list[_Item], sha: str) -> list[_Command]:
        """An ``XADD`` per large event without an id, a PUBLISH_MANY call per run of others."""
        commands: list[_Command] = []
        start = 0
        for k, (stream, dedupe, eid, body, head) in enumerate(items):
            if dedupe or len(body) + len(head) <= _INLINE:
                continue
            if start < k:
                commands.append(self._many(items, start, k, sha))
            entry = ("i", eid, "p", body, "h", head) if head else ("i", eid, "p", body)
            commands.append((k, k + 1, ("XADD", stream, "MAXLEN", "~", self.maxlen, "*", *entry)))
            start = k + 1
        if start < len(items):
            commands.append(self._many(items, start, len(items), sha))
        return commands

    def _many(self, items: list[_Item], start: int, end: int, sha: str) -> _Command:
        keys: list[str] = []
        args: list[str | int | bytes] = [self.maxlen, self._window_ms]
        for stream, dedupe, eid, body, head in items[start:end]:
            keys += (stream, dedupe)
            args += (eid, body, head)
        return start, end, ("EVALSHA", sha, len(keys), *keys, *args)

    async def _join(self, member: Member) -> RedisSubscription:
        await self._create_group(member.topic, member.group, "$" if member.start == "new" else "0")
        subscription = RedisSubscription(self, member)
        await subscription.join()
        return subscription

    async def _create_group(self, topic: str, group: str, position: str) -> None:
        stream = self.stream(topic)
        busy = self.client.response_error

        async def create(r: Any) -> None:
            try:
                await r.xgroup_create(stream, group, id=position, mkstream=True)
            except busy as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            await r.sadd(self.client.key(TOPICS), topic)

        await self.client.run("subscribe", create)

    async def _replay(
        self,
        topic: str,
        from_offset: str | None,
        from_time: float | None,
        limit: int | None,  # noqa: ARG002 - the caller stops at the limit
    ) -> AsyncGenerator[Event, None]:
        start = "-"
        if from_offset is not None:
            start = _check_offset(from_offset)
        elif from_time is not None:
            # Stream ids carry the server's millisecond; start a second early (the caller
            # filters on the stored time) so an event of the same millisecond is never skipped.
            start = f"{max(math.floor(from_time * 1000) - 1000, 0)}-0"
        stream = self.stream(topic)
        client = self.client
        newest = await client.call("replay", ("XREVRANGE", stream, "+", "-", "COUNT", 1))
        if not newest:
            return
        end = text(newest[0][0])
        while True:
            batch = await client.call(
                "replay", ("XRANGE", stream, start, end, "COUNT", _REPLAY_BATCH)
            )
            for offset, flat in batch:
                yield _event(topic, text(offset), list(flat))
            if len(batch) < _REPLAY_BATCH:
                return
            start = "(" + text(batch[-1][0])


def _poll_replies(replies: list[Any]) -> tuple[Any, list[Any], bool]:
    """Split the replies of one poll (see ``RedisSubscription._poll``).

    Returns:
        The claim script's reply (or its error), the entries ``XREADGROUP`` delivered, and
        whether the read was aborted (the script claimed something, or another client
        touched the flag key).

    Raises:
        redis.exceptions.ResponseError: The server refused the read (an error reply).
        InternalError: The read ran although the script claimed deliveries.
    """
    watched, claimed, began, queued, done = replies
    for reply in (watched, began, queued):
        if isinstance(reply, Exception):
            raise reply
    if done is None:
        return claimed, [], True
    read = done if isinstance(done, Exception) else cast("list[Any]", done)[0]
    if isinstance(read, Exception):
        if isinstance(claimed, Exception):
            return claimed, [], False
        raise read
    if not read:
        return claimed, [], False
    # One stream: a map in RESP3, a list of (stream, entries) pairs in RESP2.
    if isinstance(read, dict):
        fresh = next(iter(cast("dict[Any, list[Any]]", read).values()))
    else:
        fresh = cast("list[Any]", read)[0][1]
    if not isinstance(claimed, Exception) and claimed[0]:
        raise InternalError("a Redis fetch both claimed and read events")
    return claimed, fresh, False


def _check_offset(offset: object) -> str:
    if not isinstance(offset, str) or _OFFSET.fullmatch(offset) is None:
        raise bad_offset(offset, "an Event.offset returned by this backend (a Redis stream id)")
    return offset


class RedisDelivery(DeliveryBase["RedisSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ()

    async def ack(self) -> None:
        """Settle the event for the group (``XACK``; idempotent, first ack wins)."""
        await self._subscription.acker.submit(self._event.offset)

    async def _nack(self, delay: float) -> None:
        await self._subscription.nack(self._event.offset, self._attempt, delay)


class RedisSubscription(SubscriptionBase[RedisDelivery]):
    """One consumer of a group (see the protocol)."""

    def __init__(self, bus: RedisEventBus, member: Member) -> None:
        super().__init__(member, bus.subscriptions)
        self._bus = bus
        self._topic = topic = member.topic
        self._group = group = member.group
        self._consumer = consumer = member.consumer
        self._ack_ms = seconds_to_ms(member.ack_timeout)
        client = bus.client
        self._keys = (
            bus.stream(topic),
            client.key("evq", topic, group),
            bus.stream(member.dead_letter_topic),
            client.key("evw", topic, group),
            client.key("evt", topic, group),
            client.key("evf", topic, group, consumer),
        )
        self.acker: Coalescer[str, object] = Coalescer(self._ack_batch, max_batch=1024)
        self._stopped = asyncio.Event()

    async def join(self) -> None:
        """Record this consumer's ack timeout (what it holds times out by it)."""
        command = ("ZADD", self._keys[4], self._ack_ms, self._consumer)
        await self._bus.client.call("subscribe", command)

    async def _ack_batch(self, offsets: list[str]) -> list[object]:
        """Acknowledge a batch of deliveries with one ``XACK`` (one round trip)."""
        await self._bus.client.call("ack", ("XACK", self._keys[0], self._group, *offsets))
        return [None] * len(offsets)

    async def _ack_many(self, deliveries: list[RedisDelivery]) -> None:
        await self._ack_batch([delivery.event.offset for delivery in deliveries])

    def _settings(self) -> tuple[str, str, str]:
        return (str(self.max_deliveries), self._topic, self._bus.maxlen)

    def _poll(self, count: int, sha: str) -> bytes:
        """The commands of one fetch: claim what is due, else read new events.

        ``WATCH`` the flag key, run the claim script (which touches the flag when it claims
        anything), then ``XREADGROUP`` inside ``MULTI``/``EXEC``: the read runs only if
        nothing was claimed, so a fetch never returns more than ``count`` deliveries.
        """
        pack = self._bus.client.pack
        stream, flag = self._keys[0], self._keys[5]
        dead_base = _codec.new_id()[:24]
        claim = (sha, 6, *self._keys, self._group, self._consumer, count, self._ack_ms)
        return b"".join((
            pack(("WATCH", flag)),
            pack(("EVALSHA", *claim, *self._settings(), dead_base)),
            pack(("MULTI",)),
            pack(("XREADGROUP", "GROUP", self._group, self._consumer, "COUNT", count,
                  "STREAMS", stream, ">")),
            pack(("EXEC",)),
        ))  # fmt: skip

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        client = self._bus.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        script = await client.loaded(lua.CLAIM)
        while True:
            replies = await client.send("fetch", self._poll(max_messages, script.sha), 5)
            try:
                claimed, fresh, aborted = _poll_replies(replies)
            except client.response_error as exc:
                raise client.refused("fetch", exc) from exc
            if isinstance(claimed, Exception):
                # The claim failed; what XREADGROUP delivered is this consumer's all the same.
                if fresh:
                    return [self._delivery(offset, 1, flat) for offset, flat in fresh]
                if not isinstance(claimed, client.no_script):
                    raise client.refused("fetch", claimed) from claimed
                await client.call("fetch", ("SCRIPT", "LOAD", script.source))
                continue
            out, last, woke, due, server_now = claimed
            if out:
                return [self._delivery(offset, attempt, flat) for offset, attempt, flat in out]
            if fresh or self._closed:
                return [self._delivery(offset, 1, flat) for offset, flat in fresh]
            if aborted:  # the read was aborted though nothing was claimed: read again
                continue
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
        closed = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((read, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not read.done():
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)
        if read.done() and not read.cancelled():
            read.result()

    def _delivery(self, offset: str, attempt: int, flat: list[Any]) -> RedisDelivery:
        return RedisDelivery(self, _event(self._topic, offset, flat), int(attempt))

    async def nack(self, offset: str, attempt: int, delay: float) -> None:
        """Give back the delivery ``offset``/``attempt`` if it is still this consumer's."""
        dead_base = _codec.new_id()[:24]
        args = (self._group, self._consumer, offset, attempt, int(delay * 1000))
        await self._bus.client.eval(
            "nack", lua.NACK, self._keys[:4], (*args, *self._settings(), dead_base)
        )

    async def _stop(self) -> None:
        """Wake a pending fetch; forget the consumer if it holds nothing."""
        self._stopped.set()
        client = self._bus.client
        if client.started:
            keys, args = (self._keys[0], self._keys[4]), (self._group, self._consumer)
            try:
                await client.eval("close", lua.CLOSE, keys, args)
            except BackendUnavailable:  # closing must not fail on an outage
                return
