"""The in-memory event bus: per-topic logs, consumer groups with pending lists, dead letters."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Self

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.memory._common import TIER, Gate, Signal, now
from memfun_runtime.protocols import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_DEDUPE_WINDOW,
    DEFAULT_MAX_DELIVERIES,
    HEADER_DEAD_DELIVERIES,
    HEADER_DEAD_GROUP,
    HEADER_DEAD_ORIGINAL_ID,
    HEADER_DEAD_ORIGINAL_TOPIC,
    HEADER_DEAD_REASON,
    Delivery,
    Event,
    EventBus,
    JSONValue,
    StartPosition,
    Subscription,
)

__all__ = ["MemoryEventBus"]

_ITER_BATCH = 16


@dataclass(slots=True)
class _Record:
    seq: int
    id: str
    payload: str
    headers: dict[str, str]
    timestamp: float

    def event(self, topic: str) -> Event:
        return Event(
            id=self.id,
            topic=topic,
            payload=_codec.decode_json(self.payload, backend=TIER, location=f"{topic}/{self.seq}"),
            headers=dict(self.headers),
            timestamp=self.timestamp,
            offset=str(self.seq),
        )


@dataclass(slots=True)
class _Topic:
    name: str
    log: list[_Record] = field(default_factory=list[_Record])
    first: int = 1  # seq of log[0]
    next_seq: int = 1
    dedupe: OrderedDict[str, float] = field(default_factory=OrderedDict[str, float])
    groups: dict[str, _Group] = field(default_factory=dict[str, "_Group"])

    def first_seq(self) -> int:
        return self.first

    def record(self, seq: int) -> _Record | None:
        index = seq - self.first
        if 0 <= index < len(self.log):
            return self.log[index]
        return None

    def trim(self, keep: int) -> None:
        """Drop the oldest events beyond ``keep``, in chunks (amortized O(1) per event)."""
        if len(self.log) > keep + max(keep // 10, 1):
            drop = len(self.log) - keep
            del self.log[:drop]
            self.first += drop


@dataclass(slots=True)
class _Pending:
    consumer: str
    attempt: int
    deadline: float
    token: int


@dataclass(slots=True)
class _Group:
    topic: _Topic
    name: str
    cursor: int
    pending: dict[int, _Pending] = field(default_factory=dict[int, _Pending])
    timeouts: list[tuple[float, int, int]] = field(default_factory=list[tuple[float, int, int]])
    signal: Signal = field(default_factory=Signal)
    tokens: int = 0

    def next_token(self) -> int:
        self.tokens += 1
        return self.tokens


class MemoryEventBus(EventBus):
    """:class:`~memfun_runtime.protocols.EventBus` in process memory (see the protocol).

    Args:
        gate: The backend's started-guard.
        dedupe_window: Seconds an ``event_id`` is remembered for idempotent publish.
        max_events_per_topic: Oldest events are dropped beyond this many per topic (like a
            stream's max-messages limit, trimmed in chunks of a tenth); groups lagging behind
            skip what was dropped.
    """

    def __init__(
        self,
        gate: Gate,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
    ) -> None:
        self._gate = gate
        self._dedupe_window = _codec.check_positive(dedupe_window, field="dedupe_window")
        self._max_events = _codec.check_int(
            max_events_per_topic, field="max_events_per_topic", minimum=1
        )
        self._topics: dict[str, _Topic] = {}
        self._subscriptions: set[MemorySubscription] = set()

    @property
    def gate(self) -> Gate:
        """The backend's started-guard."""
        return self._gate

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name)
        return topic

    async def publish(
        self,
        topic: str,
        payload: JSONValue,
        *,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Append an event to ``topic`` and return its id (see the protocol)."""
        self._gate.check()
        _codec.check_name(topic, field="topic")
        text = _codec.encode_json(payload)
        checked = _codec.check_headers(headers)
        if event_id is not None:
            _codec.check_name(event_id, field="event_id")
        return self.append(topic, text, checked, event_id)

    def append(self, topic: str, text: str, headers: dict[str, str], event_id: str | None) -> str:
        """Store an already validated and encoded event; wake the topic's groups."""
        log = self._topic(topic)
        stamp = now()
        if event_id is not None:
            while log.dedupe and next(iter(log.dedupe.values())) <= stamp:
                log.dedupe.popitem(last=False)
            if event_id in log.dedupe:
                return event_id
            log.dedupe[event_id] = stamp + self._dedupe_window
        record = _Record(log.next_seq, event_id or _codec.new_id(), text, headers, stamp)
        log.next_seq += 1
        log.log.append(record)
        log.trim(self._max_events)
        for group in log.groups.values():
            group.signal.notify()
        return record.id

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
    ) -> MemorySubscription:
        """Join (creating it if needed) consumer group ``group`` on ``topic``."""
        self._gate.check()
        name, timeout, limit, dead = _codec.check_subscription(
            topic, group, consumer=consumer, ack_timeout=ack_timeout,
            max_deliveries=max_deliveries, dead_letter_topic=dead_letter_topic, start=start,
        )  # fmt: skip
        log = self._topic(topic)
        state = log.groups.get(group)
        if state is None:
            cursor = log.next_seq if start == "new" else log.first_seq()
            state = log.groups[group] = _Group(log, group, cursor)
        subscription = MemorySubscription(
            self,
            state,
            consumer=name,
            ack_timeout=timeout,
            max_deliveries=limit,
            dead_letter_topic=dead,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """Yield the retained log of ``topic`` in order (see the protocol)."""
        self._gate.check()
        _codec.check_name(topic, field="topic")
        if from_offset is not None and from_time is not None:
            raise ValidationError(
                "give from_offset or from_time, not both",
                field="from_offset",
                rule="at most one start position",
            )
        if limit is not None:
            _codec.check_int(limit, field="limit", minimum=0)
        log = self._topic(topic)
        start = _parse_offset(from_offset) if from_offset is not None else log.first_seq()
        end = log.next_seq
        count = 0
        for seq in range(max(start, log.first_seq()), end):
            if limit is not None and count >= limit:
                return
            record = log.record(seq)
            if record is None:
                continue
            if from_time is not None and record.timestamp < from_time:
                continue
            count += 1
            yield record.event(topic)

    async def close_all(self) -> None:
        """Close every open subscription (the backend is stopping)."""
        for subscription in list(self._subscriptions):
            await subscription.close()

    def forget(self, subscription: MemorySubscription) -> None:
        """Drop a closed subscription from the open set."""
        self._subscriptions.discard(subscription)


def _parse_offset(offset: str) -> int:
    if not isinstance(offset, str) or not offset.isdigit():  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValidationError(
            f"{offset!r} is not an offset of this tier",
            field="from_offset",
            rule="an Event.offset returned by this backend",
            hint="pass the offset attribute of an event read from the same topic",
        )
    return int(offset)


class MemoryDelivery(Delivery):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("_attempt", "_consumer", "_event", "_group", "_seq", "_subscription", "_token")

    def __init__(
        self,
        subscription: MemorySubscription,
        group: _Group,
        *,
        event: Event,
        seq: int,
        attempt: int,
        token: int,
    ) -> None:
        self._subscription = subscription
        self._group = group
        self._event = event
        self._seq = seq
        self._attempt = attempt
        self._token = token
        self._consumer = subscription.consumer

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
        return self._group.name

    @property
    def consumer(self) -> str:
        """The consumer that received it."""
        return self._consumer

    async def ack(self) -> None:
        """Settle the event for the group (idempotent; first ack wins)."""
        self._group.pending.pop(self._seq, None)

    async def nack(self, delay: float | None = None) -> None:
        """Give the event back for redelivery after ``delay`` seconds, or dead-letter it."""
        wait = 0.0 if delay is None else _codec.check_non_negative(delay, field="delay")
        entry = self._group.pending.get(self._seq)
        if entry is None or entry.token != self._token:
            return
        if entry.attempt >= self._subscription.max_deliveries:
            self._subscription.dead_letter(self._seq, entry, "nack")
            return
        entry.deadline = now() + wait
        heapq.heappush(self._group.timeouts, (entry.deadline, self._seq, entry.token))
        self._group.signal.notify()


class MemorySubscription(Subscription):
    """One consumer of a group (see the protocol)."""

    def __init__(
        self,
        bus: MemoryEventBus,
        group: _Group,
        *,
        consumer: str,
        ack_timeout: float,
        max_deliveries: int,
        dead_letter_topic: str,
    ) -> None:
        self._bus = bus
        self._group = group
        self._consumer = consumer
        self.ack_timeout = ack_timeout
        self.max_deliveries = max_deliveries
        self.dead_letter_topic = dead_letter_topic
        self._closed = False

    @property
    def topic(self) -> str:
        """The consumed topic."""
        return self._group.topic.name

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._group.name

    @property
    def consumer(self) -> str:
        """This consumer's name."""
        return self._consumer

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
        self._bus.gate.check()
        deadline = now() + limit
        while True:
            out = self._collect(max_messages)
            if out or self._closed:
                return out
            remaining = deadline - now()
            if remaining <= 0:
                return out
            timeouts = self._group.timeouts
            if timeouts:
                remaining = min(remaining, max(timeouts[0][0] - now(), 0.0005))
            await self._group.signal.wait(remaining)

    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError(
                f"the subscription of consumer {self._consumer!r} to {self.topic!r} is closed",
                hint="subscribe again to keep consuming",
            )

    def _collect(self, limit: int) -> list[Delivery]:
        group = self._group
        out: list[Delivery] = []
        stamp = now()
        timeouts = group.timeouts
        while timeouts and len(out) < limit and timeouts[0][0] <= stamp:
            _, seq, token = heapq.heappop(timeouts)
            entry = group.pending.get(seq)
            if entry is None or entry.token != token:
                continue
            if entry.attempt >= self.max_deliveries:
                self.dead_letter(seq, entry, "ack timeout")
                continue
            delivery = self._deliver(seq, entry.attempt + 1, stamp)
            if delivery is not None:
                out.append(delivery)
        log = group.topic
        group.cursor = max(group.cursor, log.first_seq())
        while len(out) < limit and group.cursor < log.next_seq:
            seq = group.cursor
            group.cursor += 1
            delivery = self._deliver(seq, 1, stamp)
            if delivery is not None:
                out.append(delivery)
        return out

    def _deliver(self, seq: int, attempt: int, stamp: float) -> MemoryDelivery | None:
        group = self._group
        record = group.topic.record(seq)
        if record is None:  # dropped by the retention limit
            group.pending.pop(seq, None)
            return None
        token = group.next_token()
        deadline = stamp + self.ack_timeout
        group.pending[seq] = _Pending(self._consumer, attempt, deadline, token)
        heapq.heappush(group.timeouts, (deadline, seq, token))
        event = record.event(group.topic.name)
        return MemoryDelivery(self, group, event=event, seq=seq, attempt=attempt, token=token)

    def dead_letter(self, seq: int, entry: _Pending, cause: str) -> None:
        """Move the event at ``seq`` to the dead-letter topic and settle it for the group."""
        group = self._group
        group.pending.pop(seq, None)
        record = group.topic.record(seq)
        if record is None:
            return
        headers = dict(record.headers)
        headers.update(
            {
                HEADER_DEAD_REASON: f"max deliveries ({self.max_deliveries}) reached after {cause}",
                HEADER_DEAD_ORIGINAL_TOPIC: group.topic.name,
                HEADER_DEAD_ORIGINAL_ID: record.id,
                HEADER_DEAD_GROUP: group.name,
                HEADER_DEAD_DELIVERIES: str(entry.attempt),
            }
        )
        self._bus.append(self.dead_letter_topic, record.payload, headers, None)

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        """Yield deliveries as they arrive until the subscription is closed."""
        while not self._closed:
            for delivery in await self.fetch(_ITER_BATCH, timeout=1.0):
                yield delivery

    async def close(self) -> None:
        """Stop receiving; wake a pending fetch. Idempotent."""
        if not self._closed:
            self._closed = True
            self._group.signal.notify()
            self._bus.forget(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
