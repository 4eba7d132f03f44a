"""What every tier's event bus, subscriptions and deliveries share (the protocol's plumbing, once).

A tier subclasses :class:`EventBusBase`, :class:`SubscriptionBase` and :class:`DeliveryBase`
and writes only what its store does (the abstract hooks); argument checks, the read-only
properties, the open subscriptions, iteration and the dead-letter headers live here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar, cast

from memfun_core.errors import ConflictError, InternalError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.protocols import (
    DEFAULT_ACK_TIMEOUT,
    DEFAULT_MAX_DELIVERIES,
    Delivery,
    Event,
    EventBus,
    JSONValue,
    StartPosition,
    Subscription,
)
from memfun_runtime.protocols._events import dead_letter_headers

__all__ = [
    "DeliveryBase",
    "EventBusBase",
    "Member",
    "SubscriptionBase",
    "bad_offset",
    "dead_letter_headers",
    "new_event",
    "sequence_offset",
]

ITER_BATCH = 16
"""Deliveries fetched per step when a subscription is iterated."""

_OFFSET_RULE = "an Event.offset returned by this backend"
_TOPIC_CACHE = 4096
"""Checked topic names a bus remembers (emptied when full)."""

# Event is a frozen, slotted dataclass whose generated __init__ calls object.__setattr__ once
# per field. The buses build one Event per delivery, so new_event fills the slots through
# their descriptors instead: the same object for half the cost. The check keeps the two in
# step if Event ever gains a field.
_EVENT_FIELDS = ("id", "topic", "payload", "headers", "timestamp", "offset")
if tuple(f.name for f in dataclasses.fields(Event)) != _EVENT_FIELDS or hasattr(
    Event, "__post_init__"
):  # pragma: no cover
    raise InternalError("Event's fields changed; update _EVENT_FIELDS in backends/_delivery.py")
_set_id, _set_topic, _set_payload, _set_headers, _set_timestamp, _set_offset = (
    getattr(Event, name).__set__ for name in _EVENT_FIELDS
)
_new = object.__new__


def new_event(  # noqa: PLR0917 - Event's own positional order; runs once per delivery
    event_id: str,
    topic: str,
    payload: JSONValue,
    headers: dict[str, str],
    timestamp: float,
    offset: str,
) -> Event:
    """Build an :class:`Event` without the frozen dataclass's ``__init__`` (hot path)."""
    event = _new(Event)
    _set_id(event, event_id)
    _set_topic(event, topic)
    _set_payload(event, payload)
    _set_headers(event, headers)
    _set_timestamp(event, timestamp)
    _set_offset(event, offset)
    return event


def bad_offset(offset: object, rule: str = _OFFSET_RULE) -> ValidationError:
    """The error for a ``from_offset`` that is not one of this tier's offsets."""
    return ValidationError(
        f"{offset!r} is not an offset of this tier",
        field="from_offset",
        rule=rule,
        hint="pass the offset attribute of an event read from the same topic",
    )


def sequence_offset(offset: object, *, minimum: int = 0, rule: str = _OFFSET_RULE) -> int:
    """Parse an offset that is a decimal sequence number of at least ``minimum``."""
    if not isinstance(offset, str) or not offset.isdigit() or int(offset) < minimum:
        raise bad_offset(offset, rule)
    return int(offset)


@dataclass(frozen=True, slots=True)
class Member:
    """A checked ``subscribe``: one consumer of a group and the limits of its deliveries."""

    topic: str
    group: str
    consumer: str
    ack_timeout: float
    max_deliveries: int
    dead_letter_topic: str
    start: StartPosition


B = TypeVar("B", bound="SubscriptionBase[Any]")
P = TypeVar("P")
"""A payload as the tier stores it (a copy, JSON text, bytes)."""


def _sequence(value: object, field: str) -> list[Any]:
    """``value`` as a list if it is a sequence of items (not text, bytes or a mapping)."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return list(cast("Sequence[Any]", value))
    raise ValidationError(
        f"is a {type(value).__name__}, not a sequence",
        field=field,
        rule="a list or tuple",
        hint=f"pass a list, e.g. {field}=[...]",
    )


class EventBusBase(EventBus, Generic[B, P]):
    """Base of the in-tree event buses: argument checks and the open subscriptions."""

    def __init__(self) -> None:
        self.subscriptions: set[SubscriptionBase[Any]] = set()
        """The open subscriptions (each leaves the set when it is closed)."""
        self._checked_topics: set[str] = set()
        """Topics that passed ``check_name``: a set lookup is cheaper (the publish hot path)."""

    def _check_topic(self, topic: str) -> None:
        try:
            known = topic in self._checked_topics
        except TypeError:  # unhashable, so not a name: check_name says why
            known = False
        if not known:
            _codec.check_name(topic, field="topic")
            if len(self._checked_topics) >= _TOPIC_CACHE:
                self._checked_topics.clear()
            self._checked_topics.add(topic)

    async def publish(
        self,
        topic: str,
        payload: JSONValue,
        *,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Append an event to ``topic`` and return its id (see the protocol)."""
        self._check_topic(topic)
        checked = {} if headers is None else _codec.check_headers(headers)
        if event_id is not None:
            _codec.check_name(event_id, field="event_id")
        encoded = self._encode(payload, "payload")
        now = self._publish_one(topic, encoded, checked, event_id)
        if now is not None:
            return now
        stored = self._publish_many(topic, [encoded], checked, [event_id])
        return (stored if isinstance(stored, list) else await stored)[0]

    def _publish_one(
        self, topic: str, payload: P, headers: dict[str, str], event_id: str | None
    ) -> str | None:
        """Store one checked event without waiting and return its id, where the tier can.

        ``None`` (the default): :meth:`publish` stores it as a batch of one. The in-memory
        tier stores it at once (its hot path: no lists, no awaiting).
        """
        del topic, payload, headers, event_id
        return None

    async def publish_many(
        self,
        topic: str,
        payloads: Sequence[JSONValue],
        *,
        headers: Mapping[str, str] | None = None,
        event_ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Append events to ``topic`` in order and return their ids (see the protocol)."""
        self._check_topic(topic)
        checked = {} if headers is None else _codec.check_headers(headers)
        values = _sequence(payloads, "payloads")
        ids: list[str | None] = [None] * len(values)
        if event_ids is not None:
            given = _sequence(event_ids, "event_ids")
            if len(given) != len(values):
                raise ValidationError(
                    f"has {len(given)} entries for {len(values)} payloads",
                    field="event_ids",
                    rule="one entry (an id or None) per payload",
                )
            for index, event_id in enumerate(given):
                if event_id is not None:
                    ids[index] = _codec.check_name(event_id, field=f"event_ids[{index}]")
        if not values:
            return []
        encode = self._encode
        encoded = [encode(value, f"payloads[{index}]") for index, value in enumerate(values)]
        stored = self._publish_many(topic, encoded, checked, ids)
        return stored if isinstance(stored, list) else await stored

    @abstractmethod
    def _encode(self, payload: JSONValue, field: str) -> P:
        """Check ``payload`` and turn it into what the tier stores.

        Raises:
            ValidationError: It is not JSON (the error names ``field``).
        """

    @abstractmethod
    def _publish_many(
        self, topic: str, payloads: list[P], headers: dict[str, str], event_ids: list[str | None]
    ) -> list[str] | Awaitable[list[str]]:
        """Store encoded events (one or more) with checked topic, headers and ids, in order.

        Returns their ids, or something to await for them: a tier that stores at once (T0)
        or returns a future (T1) costs a publish no second coroutine.
        """

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
    ) -> B:
        """Join (creating it if needed) consumer group ``group`` on ``topic``."""
        _codec.check_name(topic, field="topic")
        _codec.check_group(group, field="group")
        member = Member(
            topic,
            group,
            _codec.new_id() if consumer is None else _codec.check_group(consumer, field="consumer"),
            _codec.check_positive(ack_timeout, field="ack_timeout"),
            _codec.check_int(max_deliveries, field="max_deliveries", minimum=1),
            _codec.check_name(dead_letter_topic or f"{topic}.dead", field="dead_letter_topic"),
            start,
        )
        if start not in ("new", "earliest"):
            raise ValidationError(
                f"must be 'new' or 'earliest', got {start!r}",
                field="start",
                rule="'new' | 'earliest'",
            )
        subscription = await self._join(member)
        self.subscriptions.add(subscription)
        return subscription

    @abstractmethod
    async def _join(self, member: Member) -> B:
        """Create the group if needed and return the member's subscription."""

    async def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """Yield the retained log of ``topic`` in publish order (see the protocol)."""
        _codec.check_name(topic, field="topic")
        if from_offset is not None and from_time is not None:
            raise ValidationError(
                "give from_offset or from_time, not both",
                field="from_offset",
                rule="at most one start position",
            )
        if limit is not None and _codec.check_int(limit, field="limit", minimum=0) == 0:
            return
        since = (
            None if from_time is None else _codec.check_non_negative(from_time, field="from_time")
        )
        count = 0
        async with contextlib.aclosing(self._replay(topic, from_offset, since, limit)) as events:
            async for event in events:
                if since is not None and event.timestamp < since:
                    continue
                yield event
                count += 1
                if count == limit:
                    return

    @abstractmethod
    def _replay(
        self, topic: str, from_offset: str | None, from_time: float | None, limit: int | None
    ) -> AsyncGenerator[Event, None]:
        """Read the log of ``topic`` from checked starts.

        The caller stops after ``limit`` events (``None`` or > 0; a hint for page sizes) and
        drops events stored before ``from_time`` (a tier may skip them earlier).
        """

    async def close_all(self) -> None:
        """Close every open subscription (the backend is stopping)."""
        for subscription in list(self.subscriptions):
            await subscription.close()


S = TypeVar("S", bound="SubscriptionBase[Any]")
D = TypeVar("D", bound="DeliveryBase[Any]")


class DeliveryBase(Delivery, Generic[S]):
    """Base of the in-tree deliveries: the read-only side of the protocol and nack's check.

    A tier's delivery adds what it needs to settle the event, ``ack`` and ``_nack``.
    """

    __slots__ = ("_attempt", "_event", "_subscription")

    def __init__(self, subscription: S, event: Event, attempt: int) -> None:
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
        return self._subscription.member.group

    @property
    def consumer(self) -> str:
        """The consumer that received it."""
        return self._subscription.member.consumer

    async def nack(self, delay: float | None = None) -> None:
        """Give the event back for redelivery after ``delay`` seconds, or dead-letter it."""
        wait = 0.0 if delay is None else _codec.check_non_negative(delay, field="delay")
        await self._nack(wait)

    @abstractmethod
    async def _nack(self, delay: float) -> None:
        """Nack with a checked delay (seconds, >= 0)."""

    def fetched_by(self, subscription: SubscriptionBase[Any]) -> bool:
        """Whether this delivery was fetched through ``subscription``."""
        return self._subscription is subscription


class SubscriptionBase(Subscription, Generic[D]):
    """Base of the in-tree subscriptions: properties, fetch's and ack_many's checks, close.

    Args:
        member: The checked ``subscribe`` arguments.
        open_set: The bus's open subscriptions; this one leaves it when closed.
    """

    def __init__(self, member: Member, open_set: set[SubscriptionBase[Any]]) -> None:
        self.member = member
        self.max_deliveries = member.max_deliveries
        self.dead_letter_topic = member.dead_letter_topic
        self._open_set = open_set
        self._closed = False

    @property
    def topic(self) -> str:
        """The consumed topic."""
        return self.member.topic

    @property
    def group(self) -> str:
        """The consumer group."""
        return self.member.group

    @property
    def consumer(self) -> str:
        """This consumer's name."""
        return self.member.consumer

    async def fetch(
        self,
        max_messages: int = 1,
        *,
        timeout: float = 1.0,  # noqa: ASYNC109 - a bounded wait is the contract
    ) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for at most ``max_messages`` deliveries."""
        _codec.check_int(max_messages, field="max_messages", minimum=1)
        limit = _codec.check_non_negative(timeout, field="timeout")
        if self._closed:
            raise ConflictError(
                f"the subscription of consumer {self.consumer!r} to {self.topic!r} is closed",
                hint="subscribe again to keep consuming",
            )
        return await self._fetch(max_messages, limit)

    @abstractmethod
    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        """Fetch with checked arguments (``wait``: the timeout) from an open subscription."""

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge deliveries of this subscription at once (see the protocol)."""
        mine: list[D] = []
        for index, delivery in enumerate(_sequence(deliveries, "deliveries")):
            if not isinstance(delivery, DeliveryBase) or not delivery.fetched_by(self):
                raise ValidationError(
                    f"was not fetched through this subscription (consumer {self.consumer!r} "
                    f"of group {self.group!r} on {self.topic!r})",
                    field=f"deliveries[{index}]",
                    rule="deliveries fetched through the subscription that acks them",
                    hint="ack each delivery through the subscription that fetched it",
                )
            mine.append(cast("D", delivery))
        if mine:
            await self._ack_many(mine)

    @abstractmethod
    async def _ack_many(self, deliveries: list[D]) -> None:
        """Ack deliveries fetched through this subscription, as one write where possible."""

    def dead_headers(self, event: Event, cause: str, deliveries: int) -> dict[str, str]:
        """The headers of ``event`` as a dead letter of this subscription after ``cause``."""
        return dead_letter_headers(
            event.headers,
            max_deliveries=self.max_deliveries,
            cause=cause,
            topic=event.topic,
            event_id=event.id,
            group=self.member.group,
            deliveries=deliveries,
        )

    async def close(self) -> None:
        """Stop receiving; a pending fetch returns. Idempotent; pending deliveries stay."""
        if self._closed:
            return
        self._closed = True
        self._open_set.discard(self)
        await self._stop()

    @abstractmethod
    async def _stop(self) -> None:
        """Wake a pending fetch and release what the tier holds (runs once)."""

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        """Yield deliveries as they arrive until the subscription is closed."""
        while not self._closed:
            for delivery in await self.fetch(ITER_BATCH, timeout=1.0):
                yield delivery

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
