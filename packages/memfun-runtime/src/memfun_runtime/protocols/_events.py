"""The event bus contract: durable topics, consumer groups, acks, dead letters and replay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, Self, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_DEDUPE_WINDOW",
    "DEFAULT_MAX_DELIVERIES",
    "HEADER_DEAD_DELIVERIES",
    "HEADER_DEAD_GROUP",
    "HEADER_DEAD_ORIGINAL_ID",
    "HEADER_DEAD_ORIGINAL_TOPIC",
    "HEADER_DEAD_REASON",
    "Delivery",
    "Event",
    "EventBus",
    "StartPosition",
    "Subscription",
]

DEFAULT_DEDUPE_WINDOW = 120.0
"""Seconds during which a repeated ``event_id`` is recognised (JetStream's default window)."""
DEFAULT_ACK_TIMEOUT = 30.0
"""Seconds a delivery may stay unacknowledged before it is delivered again."""
DEFAULT_MAX_DELIVERIES = 5
"""Deliveries of one event to one group before it goes to the dead-letter topic."""

HEADER_DEAD_REASON = "memfun-dead-reason"
"""Header of a dead-lettered event: why it died (``"max deliveries (5) reached after nack"``)."""
HEADER_DEAD_ORIGINAL_TOPIC = "memfun-dead-topic"
"""Header of a dead-lettered event: the topic it was first published to."""
HEADER_DEAD_ORIGINAL_ID = "memfun-dead-event-id"
"""Header of a dead-lettered event: the id of the original event."""
HEADER_DEAD_GROUP = "memfun-dead-group"
"""Header of a dead-lettered event: the consumer group that gave up on it."""
HEADER_DEAD_DELIVERIES = "memfun-dead-deliveries"
"""Header of a dead-lettered event: how many times it was delivered (decimal)."""


def dead_letter_headers(
    headers: Mapping[str, str],
    *,
    max_deliveries: int,
    cause: str,
    topic: str,
    event_id: str,
    group: str,
    deliveries: int,
) -> dict[str, str]:
    """The headers of a dead letter: the original ones plus the ``memfun-dead-*`` ones.

    An implementation helper shared by the tiers (not part of the public API).
    """
    out = dict(headers)
    out[HEADER_DEAD_REASON] = f"max deliveries ({max_deliveries}) reached after {cause}"
    out[HEADER_DEAD_ORIGINAL_TOPIC] = topic
    out[HEADER_DEAD_ORIGINAL_ID] = event_id
    out[HEADER_DEAD_GROUP] = group
    out[HEADER_DEAD_DELIVERIES] = str(deliveries)
    return out


StartPosition = Literal["new", "earliest"]
"""Where a consumer group starts when it is created: after the newest event, or at the oldest
retained one. Ignored when the group already exists."""


@dataclass(frozen=True, slots=True)
class Event:
    """One published event, as stored in a topic's log.

    Attributes:
        id: Unique id: the ``event_id`` given to :meth:`EventBus.publish`, or a generated one.
        topic: The topic it was published to.
        payload: The JSON payload (decoded).
        headers: String headers given at publish time (plus the dead-letter headers on a
            dead-letter topic).
        timestamp: When the backend stored it, seconds since the Unix epoch.
        offset: Position in the topic's log, an opaque string; pass it to
            :meth:`EventBus.replay`. Do not parse or compare offsets: their format differs
            between tiers (a counter, a Redis stream id, a JetStream sequence).
    """

    id: str
    topic: str
    payload: JSONValue
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    timestamp: float = 0.0
    offset: str = ""


@runtime_checkable
class Delivery(Protocol):
    """One delivery of an event to one consumer of a group; settle it with ack or nack.

    Attributes:
        event: The delivered event.
        attempt: 1 for the first delivery of this event to this group, 2 for the first
            redelivery, and so on.
        group: The consumer group.
        consumer: The consumer that received it.
    """

    @property
    def event(self) -> Event: ...

    @property
    def attempt(self) -> int: ...

    @property
    def group(self) -> str: ...

    @property
    def consumer(self) -> str: ...

    async def ack(self) -> None:
        """Settle the event for the group: it is never delivered to the group again.

        When this returns, the acknowledgement is as durable as the tier: committed on T1 and
        T2, confirmed by the server on T3 (an ack confirmed in the last milliseconds before a
        NATS server *crash* may be forgotten, and the event delivered again — at least once,
        never lost; a clean server shutdown keeps every ack).
        Acking twice, or acking after the event was redelivered elsewhere, is a no-op as
        long as the event has not been dead-lettered; the first ack wins.
        """
        ...

    async def nack(self, delay: float | None = None) -> None:
        """Give the event back: it is delivered again (to any consumer of the group).

        Args:
            delay: Seconds to wait before the redelivery; ``None`` or ``0`` means as soon as
                possible. If this was delivery number ``max_deliveries``, the event goes to
                the dead-letter topic instead.

        Nacking an acked delivery is a no-op.
        """
        ...


@runtime_checkable
class Subscription(Protocol):
    """One consumer's view of a consumer group on one topic.

    Delivery guarantees (every tier):

    * **At least once.** Every event published to the topic after the group was created (or
      every retained event, with ``start="earliest"``) is delivered to some consumer of the
      group until it is acked or dead-lettered.
    * **Redelivery.** A delivery not acked within ``ack_timeout`` seconds becomes available
      again, with ``attempt`` one higher, to any consumer of the group (also the same one).
      Closing a subscription does not ack anything: its pending deliveries come back after
      their ack timeout.
    * **Dead letter.** When delivery number ``max_deliveries`` is nacked or times out, the
      event is published to ``dead_letter_topic`` with the same payload, the original headers
      and the ``memfun-dead-*`` headers (reason, original topic and id, group, deliveries),
      and the group never sees it again. A nack dead-letters at once; a timeout does so no
      later than the next :meth:`fetch` of any consumer of the group after the timeout.
    * **Order.** One consumer receives the first deliveries of a topic's events in publish
      order; redeliveries may arrive later than newer events.
    """

    @property
    def topic(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def consumer(self) -> str: ...

    async def fetch(
        self,
        max_messages: int = 1,
        *,
        timeout: float = 1.0,  # noqa: ASYNC109 - a bounded wait is the contract
    ) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for deliveries and return at most ``max_messages``.

        Returns as soon as at least one delivery is available (it does not wait to fill the
        batch). Returns an empty list when nothing arrived in time; never raises on timeout.
        ``timeout=0`` polls.

        Raises:
            ValidationError: ``max_messages < 1`` or a negative ``timeout``.
            ConflictError: The subscription was closed.
            BackendUnavailable: The backend cannot be reached.
        """
        ...

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge several deliveries of this subscription at once.

        Each delivery is settled exactly as its :meth:`Delivery.ack` would settle it
        (an already acked one is a no-op), in one round trip or transaction: when this
        returns, all of them are as durable as a single ack. An empty sequence does nothing.

        Raises:
            ValidationError: ``deliveries`` is not a sequence, or one of them (the error
                names its index) was not fetched through this subscription; nothing is
                acknowledged then.
            BackendUnavailable: The backend cannot be reached.
        """
        ...

    def __aiter__(self) -> AsyncIterator[Delivery]:
        """Iterate over deliveries as they arrive, until the subscription is closed."""
        ...

    async def close(self) -> None:
        """Stop receiving; a pending :meth:`fetch` returns. Idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    """Topics with a durable log, consumer groups, acks, dead letters and replay.

    Durability: when :meth:`publish` returns, the event is stored as durably as the tier
    allows (T0: in this process's memory only; T1: committed to the SQLite WAL; T2/T3: stored
    by the server). Groups and their progress are stored the same way.

    Fan-out and competition: every consumer group receives every event (fan-out across
    groups); the consumers inside one group compete, so each event goes to one of them at a
    time.

    Names: topics are ``.``-separated tokens of ``[A-Za-z0-9_-]`` (NATS subject rules without
    wildcards); groups and consumers are single tokens. Bad names raise
    :class:`~memfun_core.errors.ValidationError`.
    """

    async def publish(
        self,
        topic: str,
        payload: JSONValue,
        *,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> str:
        """Append an event to ``topic`` and return its id.

        Args:
            topic: Where to publish.
            payload: Any JSON-serializable value.
            headers: Optional string headers delivered with the event.
            event_id: Makes the publish idempotent: publishing the same id to the same topic
                again within the backend's dedupe window (default
                :data:`DEFAULT_DEDUPE_WINDOW`, 120 s) stores nothing new and returns the id.

        Raises:
            ValidationError: Illegal topic, header or id, or a payload that is not JSON.
            BackendUnavailable: The backend cannot be reached.
        """
        ...

    async def publish_many(
        self,
        topic: str,
        payloads: Sequence[JSONValue],
        *,
        headers: Mapping[str, str] | None = None,
        event_ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Append several events to ``topic``, in order, and return their ids in that order.

        Equivalent to :meth:`publish` for each payload in turn, in one round trip or
        transaction where the tier allows: on T1 the events are committed together (all or
        none), T2 stores them with one pipelined write, T3 sends every publish before
        awaiting the server's confirmations together. Every argument is checked before
        anything is stored, so a bad payload or id anywhere publishes nothing.

        Args:
            topic: Where to publish.
            payloads: The events' JSON-serializable payloads; an empty sequence publishes
                nothing and returns ``[]``.
            headers: Optional string headers delivered with every one of the events.
            event_ids: ``None``, or one entry per payload: an id making that publish
                idempotent (as ``event_id`` does for :meth:`publish`) or ``None``.

        Raises:
            ValidationError: Illegal topic, header or id, ``event_ids`` of another length
                than ``payloads``, or a payload that is not JSON (the error's field names
                its index, ``payloads[3]``).
            BackendUnavailable: The backend cannot be reached.
        """
        ...

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
    ) -> Subscription:
        """Join (creating it if needed) consumer group ``group`` on ``topic``.

        Args:
            topic: The topic to consume.
            group: The durable consumer group; its progress survives restarts on durable tiers.
            consumer: This consumer's name inside the group; generated when ``None``.
            ack_timeout: Seconds before an unacked delivery is redelivered (> 0; small values
                such as 0.1 are accepted).
            max_deliveries: Deliveries before the event is dead-lettered (>= 1).
            dead_letter_topic: Where dead events go; default ``"<topic>.dead"``.
            start: Where a new group starts; ignored when the group exists.

        ``max_deliveries`` and ``dead_letter_topic`` apply to the deliveries this subscription
        makes. ``ack_timeout`` is the group's redelivery timeout: give every consumer of one
        group the same value. Tiers that keep it per group (NATS JetStream's ``AckWait``)
        apply the latest ``subscribe``'s value to the whole group.

        Raises:
            ValidationError: Illegal names or settings.
            BackendUnavailable: The backend cannot be reached.
        """
        ...

    def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """Read the topic's retained log in publish order, without a group and without acks.

        Args:
            topic: The topic to read.
            from_offset: Start at this event (inclusive), an :attr:`Event.offset` of the topic.
            from_time: Start at the first event stored at or after this Unix time.
            limit: Stop after this many events.

        The iteration ends at the newest event that existed when it started. Give at most one
        of ``from_offset`` / ``from_time``; neither means from the oldest retained event.

        Raises:
            ValidationError: Both starts given, a malformed offset, or a bad limit.
        """
        ...
