"""The in-memory event bus: per-topic logs, consumer groups with pending lists, dead letters."""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from memfun_runtime import _codec
from memfun_runtime.backends._delivery import (
    DeliveryBase,
    EventBusBase,
    Member,
    SubscriptionBase,
    new_event,
    sequence_offset,
)
from memfun_runtime.backends.memory._common import Gate, Signal, now
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW, Delivery, Event, JSONValue

__all__ = ["MemoryEventBus"]

_time = time.time  # what now() returns, without the call (hot path)
_NO_HEADERS: dict[str, str] = {}  # shared by events without headers; never changed


@dataclass(slots=True)
class _Topic:
    """One topic's log, kept column by column (index ``i`` holds the event of ``first + i``).

    A handful of long lists costs the garbage collector almost nothing, where one object per
    event would be traversed by every full collection of the process. The payloads are the
    bus's own copies; deliveries and replays get copies of them.
    """

    name: str
    ids: list[str] = field(default_factory=list[str])
    payloads: list[JSONValue] = field(default_factory=list[JSONValue])
    headers: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    stamps: list[float] = field(default_factory=list[float])
    first: int = 1  # seq of index 0
    next_seq: int = 1
    dedupe: OrderedDict[str, float] = field(default_factory=OrderedDict[str, float])
    groups: dict[str, _Group] = field(default_factory=dict[str, "_Group"])

    def index(self, seq: int) -> int | None:
        """Where the event of ``seq`` is, or ``None`` if it was trimmed (or never was)."""
        index = seq - self.first
        return index if 0 <= index < len(self.ids) else None

    def event(self, index: int) -> Event:
        """Build the Event for one delivery or replay of the event at ``index``."""
        headers = self.headers[index]
        return new_event(
            self.ids[index],
            self.name,
            _codec.copy_json(self.payloads[index]),
            dict(headers) if headers else {},
            self.stamps[index],
            str(self.first + index),
        )

    def trim(self, keep: int) -> None:
        """Drop the oldest events beyond ``keep``, in chunks (amortized O(1) per event)."""
        if len(self.ids) > keep + max(keep // 10, 1):
            drop = len(self.ids) - keep
            for column in (self.ids, self.payloads, self.headers, self.stamps):
                del column[:drop]
            self.first += drop


_Due = tuple[float, int, int, int]


@dataclass(slots=True)
class _Group:
    topic: _Topic
    name: str
    cursor: int
    # The unsettled deliveries by seq; an entry is replaced when its event is redelivered.
    pending: dict[int, MemoryDelivery] = field(default_factory=dict[int, "MemoryDelivery"])
    # Due times as (deadline, seq, token, count): the deliveries of seq .. seq+count-1 made
    # with tokens token .. token+count-1 (one entry covers a fetch's batch of new events).
    # A delivery that was settled or replaced since is skipped when its entry comes due;
    # compact() drops entries with nothing live in bulk.
    timeouts: list[_Due] = field(default_factory=list["_Due"])
    signal: Signal = field(default_factory=Signal)
    tokens: int = 0

    def live(self, due: _Due) -> bool:
        """Whether any delivery of ``due`` is still the pending one for its event."""
        _, seq, token, count = due
        pending = self.pending
        for i in range(count):
            delivery = pending.get(seq + i)
            if delivery is not None and delivery.token == token + i:
                return True
        return False

    def compact(self) -> None:
        """Drop stale timeouts once they outnumber live deliveries (bounds memory under load)."""
        timeouts = self.timeouts
        if len(timeouts) > 2 * len(self.pending) + 1024:
            live = [due for due in timeouts if self.live(due)]
            heapq.heapify(live)
            self.timeouts = live


class MemoryEventBus(EventBusBase["MemorySubscription", JSONValue]):
    """:class:`~memfun_runtime.protocols.EventBus` in process memory (see the protocol).

    Beyond ``max_events_per_topic`` the oldest events are dropped in chunks of a tenth (like a
    stream's max-messages limit); groups lagging behind skip what was dropped.
    """

    def __init__(
        self,
        gate: Gate,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        max_events_per_topic: int = 1_000_000,
    ) -> None:
        super().__init__()
        self.gate = gate
        self._dedupe_window = _codec.check_positive(dedupe_window, field="dedupe_window")
        self._max_events = _codec.check_int(
            max_events_per_topic, field="max_events_per_topic", minimum=1
        )
        self._topics: dict[str, _Topic] = {}

    def topic(self, name: str) -> _Topic:
        """The log of topic ``name`` (created when missing)."""
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name)
        return topic

    def _encode(self, payload: JSONValue, field: str) -> JSONValue:
        return _codec.copy_json(payload, field=field)

    def _publish_one(
        self, topic: str, payload: JSONValue, headers: dict[str, str], event_id: str | None
    ) -> str:
        if not self.gate.started:
            self.gate.check()
        log = self._topics.get(topic) or self.topic(topic)
        return self.append(log, payload, headers or _NO_HEADERS, event_id)

    def _publish_many(
        self,
        topic: str,
        payloads: list[JSONValue],
        headers: dict[str, str],
        event_ids: list[str | None],
    ) -> list[str]:
        if not self.gate.started:
            self.gate.check()
        log = self._topics.get(topic) or self.topic(topic)
        append, shared = self.append, headers or _NO_HEADERS
        return [append(log, p, shared, i) for p, i in zip(payloads, event_ids, strict=True)]

    def append(
        self, log: _Topic, payload: JSONValue, headers: dict[str, str], event_id: str | None
    ) -> str:
        """Store an already validated and copied event; wake the topic's groups."""
        stamp = _time()
        if event_id is not None:
            while log.dedupe and next(iter(log.dedupe.values())) <= stamp:
                log.dedupe.popitem(last=False)
            if event_id in log.dedupe:
                return event_id
            log.dedupe[event_id] = stamp + self._dedupe_window
        record_id = event_id or _codec.new_id()
        log.ids.append(record_id)
        log.payloads.append(payload)
        log.headers.append(headers)
        log.stamps.append(stamp)
        log.next_seq += 1
        if len(log.ids) > self._max_events:
            log.trim(self._max_events)
        for group in log.groups.values():
            group.signal.notify()
        return record_id

    async def _join(self, member: Member) -> MemorySubscription:
        self.gate.check()
        log = self.topic(member.topic)
        state = log.groups.get(member.group)
        if state is None:
            cursor = log.next_seq if member.start == "new" else log.first
            state = log.groups[member.group] = _Group(log, member.group, cursor)
        return MemorySubscription(self, state, member)

    async def _replay(
        self,
        topic: str,
        from_offset: str | None,
        from_time: float | None,
        limit: int | None,  # noqa: ARG002 - the caller stops at the limit
    ) -> AsyncGenerator[Event, None]:
        self.gate.check()
        log = self.topic(topic)
        start = log.first if from_offset is None else sequence_offset(from_offset)
        since = float("-inf") if from_time is None else from_time
        for seq in range(max(start, log.first), log.next_seq):
            index = log.index(seq)
            if index is not None and log.stamps[index] >= since:
                yield log.event(index)


class MemoryDelivery(DeliveryBase["MemorySubscription"]):
    """One delivery of an event to one consumer (see the protocol).

    While unsettled it is also the group's pending entry for its event; ``token`` names its
    current entry in the group's timeouts.
    """

    __slots__ = ("seq", "token")

    def __init__(
        self, subscription: MemorySubscription, event: Event, seq: int, attempt: int, token: int
    ) -> None:
        super().__init__(subscription, event, attempt)
        self.seq = seq
        self.token = token

    async def ack(self) -> None:
        """Settle the event for the group (idempotent; first ack wins)."""
        self._subscription.state.pending.pop(self.seq, None)

    async def _nack(self, delay: float) -> None:
        group = self._subscription.state
        if group.pending.get(self.seq) is not self:  # settled, or already redelivered
            return
        if self._attempt >= self._subscription.max_deliveries:
            self._subscription.dead_letter(self.seq, self, "nack")
            return
        # A new token retires the ack-timeout entry, so only the nack's deadline counts.
        group.tokens += 1
        self.token = group.tokens
        heapq.heappush(group.timeouts, (now() + delay, self.seq, self.token, 1))
        group.signal.notify()


class MemorySubscription(SubscriptionBase[MemoryDelivery]):
    """One consumer of a group (see the protocol)."""

    def __init__(self, bus: MemoryEventBus, group: _Group, member: Member) -> None:
        super().__init__(member, bus.subscriptions)
        self._bus = bus
        self.state = group
        self.ack_timeout = member.ack_timeout

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        self._bus.gate.check()
        deadline = now() + wait
        while True:
            out = self._collect(max_messages)
            if out or self._closed:
                return out
            remaining = deadline - now()
            if remaining <= 0:
                return out
            timeouts = self.state.timeouts
            if timeouts:
                remaining = min(remaining, max(timeouts[0][0] - now(), 0.0005))
            await self.state.signal.wait(remaining)

    def _collect(self, limit: int) -> list[Delivery]:
        group = self.state
        group.compact()
        out: list[Delivery] = []
        stamp = now()
        timeouts = group.timeouts
        pending = group.pending
        while timeouts and len(out) < limit and timeouts[0][0] <= stamp:
            deadline, seq, token, count = heapq.heappop(timeouts)
            for i in range(count):
                if len(out) >= limit:  # put the rest back for the next fetch
                    heapq.heappush(timeouts, (deadline, seq + i, token + i, count - i))
                    break
                entry = pending.get(seq + i)
                if entry is None or entry.token != token + i:
                    continue
                if entry.attempt >= self.max_deliveries:
                    self.dead_letter(seq + i, entry, "ack timeout")
                    continue
                delivery = self._deliver(seq + i, entry.attempt + 1, stamp)
                if delivery is not None:
                    out.append(delivery)
        log = group.topic
        first = log.first
        cursor = max(group.cursor, first)
        end = min(log.next_seq, cursor + limit - len(out))
        if end <= cursor:
            return out
        group.cursor = end
        # New events, the hot path: one timeout entry covers the whole batch.
        event = log.event
        token = group.tokens + 1
        group.tokens += end - cursor
        heapq.heappush(timeouts, (stamp + self.ack_timeout, cursor, token, end - cursor))
        for seq in range(cursor, end):
            delivery = MemoryDelivery(self, event(seq - first), seq, 1, token)
            pending[seq] = delivery
            out.append(delivery)
            token += 1
        return out

    def _deliver(self, seq: int, attempt: int, stamp: float) -> MemoryDelivery | None:
        group = self.state
        index = group.topic.index(seq)
        if index is None:  # dropped by the retention limit
            group.pending.pop(seq, None)
            return None
        group.tokens += 1
        event = group.topic.event(index)
        delivery = MemoryDelivery(self, event, seq, attempt, group.tokens)
        group.pending[seq] = delivery
        heapq.heappush(group.timeouts, (stamp + self.ack_timeout, seq, group.tokens, 1))
        return delivery

    def dead_letter(self, seq: int, entry: MemoryDelivery, cause: str) -> None:
        """Move the event at ``seq`` to the dead-letter topic and settle it for the group."""
        group = self.state
        group.pending.pop(seq, None)
        log = group.topic
        index = log.index(seq)
        if index is None:
            return
        headers = self.dead_headers(log.event(index), cause, entry.attempt)
        bus = self._bus
        bus.append(bus.topic(self.dead_letter_topic), log.payloads[index], headers, None)

    async def _ack_many(self, deliveries: list[MemoryDelivery]) -> None:
        pending = self.state.pending
        for delivery in deliveries:
            pending.pop(delivery.seq, None)

    async def _stop(self) -> None:
        self.state.signal.notify()
