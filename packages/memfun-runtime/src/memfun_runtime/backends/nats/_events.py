"""The JetStream event bus: one stream per namespace, one durable pull consumer per group.

Layout: topic ``orders.created`` is subject ``<ns>.ev.orders.created`` of stream
``<ns>_EVENTS``; consumer group ``billing`` on it is the durable pull consumer
``billing-<digest of the topic>`` filtered on that subject. Offsets are stream sequences.

* Idempotent publish: ``Nats-Msg-Id = "<topic>:<event_id>"`` within the stream's duplicate
  window (so the same id on two topics is two events, as the protocol says).
* Redelivery: the consumer's ``AckWait``; nack is ``-NAK`` (with JetStream's ``delay``).
* Dead letter: the consumer's ``MaxDeliver`` is unlimited and the backend publishes a
  delivery whose count exceeds the subscription's ``max_deliveries`` to the dead-letter
  topic (deduplicated by ``Nats-Msg-Id``) and then acks it, so no advisory can be missed
  while no process listens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy, StreamConfig

from memfun_core.errors import ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends._delivery import (
    DeliveryBase,
    EventBusBase,
    Member,
    SubscriptionBase,
    sequence_offset,
)
from memfun_runtime.backends.nats._client import BACKEND, NatsClient, stream_config, token
from memfun_runtime.backends.nats._pull import Puller, durable_puller, read_stream, reader_config
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW, Delivery, Event, JSONValue

__all__ = ["NatsEventBus"]

_ID_HEADER = "Memfun-Event-Id"  # the event id (stripped before the event reaches the app)
_MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream's deduplication header
_ACK = b"+ACK"
_MAX_ACK_PENDING = 20_000
_OFFSET_RULE = "an Event.offset returned by this backend (a JetStream sequence)"
_EXPIRY_PATIENCE = 0.25  # seconds a replay waits for an event that may have expired meanwhile


class NatsEventBus(EventBusBase["NatsSubscription", bytes]):
    """:class:`~memfun_runtime.protocols.EventBus` on JetStream (see the module docstring).

    Args:
        client: The shared connection.
        dedupe_window: Seconds a repeated ``event_id`` is recognised (the stream's duplicate
            window).
        retention: Seconds events are kept (the stream's ``max_age``); ``None`` keeps them
            until removed by an operator.
    """

    def __init__(
        self,
        client: NatsClient,
        *,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        retention: float | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self._dedupe = _codec.check_positive(dedupe_window, field="dedupe_window")
        self._retention = (
            None if retention is None else _codec.check_positive(retention, field="retention")
        )
        if self._retention is not None and self._retention < self._dedupe:
            raise ValidationError(
                f"event_retention ({self._retention:g} s) is shorter than dedupe_window "
                f"({self._dedupe:g} s); JetStream forgets an event's id with the event",
                field="event_retention",
                rule="at least dedupe_window on NATS",
                hint="raise event_retention or lower dedupe_window",
            )
        self.stream = client.name("EVENTS")
        self.prefix = f"{client.namespace}.ev."
        """The subject prefix of every topic."""

    def spec(self) -> StreamConfig:
        """The stream this bus needs."""
        subjects = [f"{self.prefix}>"]
        return stream_config(self.stream, subjects, max_age=self._retention, dedupe=self._dedupe)

    def _encode(self, payload: JSONValue, field: str) -> bytes:
        return _codec.encode_json(payload, field=field).encode()

    async def _publish_many(
        self,
        topic: str,
        payloads: list[bytes],
        headers: dict[str, str],
        event_ids: list[str | None],
    ) -> list[str]:
        """Store events: one by a publish request, several by JetStream's async publish.

        Every publish of a batch is sent, in order, before the server's confirmations are
        awaited together (one round trip's wait, not one per event).
        """
        if len(payloads) == 1:
            return [await self.append(topic, payloads[0], headers, event_ids[0])]
        publish = self.client.js.publish_async  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        subject = self.prefix + topic
        ids = [event_id or _codec.new_id() for event_id in event_ids]

        async def send() -> None:
            confirmations: list[Awaitable[object]] = []
            for data, ident, event_id in zip(payloads, ids, event_ids, strict=True):
                own = _headers(topic, dict(headers), ident, event_id)
                confirmations.append(await publish(subject, data, headers=own))
            await asyncio.gather(*confirmations)

        await self.client.call(f"publishing {len(payloads)} events to {topic!r}", send)
        return ids

    async def append(
        self, topic: str, data: bytes, headers: dict[str, str], event_id: str | None
    ) -> str:
        """Store an already validated event; dedupe by ``event_id`` when given."""
        ident = event_id or _codec.new_id()
        _headers(topic, headers, ident, event_id)
        js = self.client.js
        subject = self.prefix + topic
        timeout = self.client.timeout
        await self.client.call(
            f"publishing to {topic!r}",
            lambda: js.publish(subject, data, timeout=timeout, headers=headers),
            bounded=True,
        )
        return ident

    async def _join(self, member: Member) -> NatsSubscription:
        durable = f"{member.group}-{token(member.topic)}"
        js = self.client.js

        async def start() -> DeliverPolicy:  # an existing group keeps where it started
            try:
                info = await js.consumer_info(self.stream, durable)
            except nats.js.errors.NotFoundError:
                return DeliverPolicy.NEW if member.start == "new" else DeliverPolicy.ALL
            return info.config.deliver_policy or DeliverPolicy.ALL

        policy = await self.client.call(f"joining group of {member.topic!r}", start)
        puller = await durable_puller(
            self.client,
            self.stream,
            durable,
            self.prefix + member.topic,
            member.ack_timeout,
            max_ack_pending=_MAX_ACK_PENDING,
            deliver_policy=policy,
        )
        return NatsSubscription(self, puller, member)

    async def _replay(
        self, topic: str, from_offset: str | None, from_time: float | None, limit: int | None
    ) -> AsyncGenerator[Event, None]:
        options: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
        if from_offset is not None:
            options = {
                "deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
                "opt_start_seq": sequence_offset(from_offset, minimum=1, rule=_OFFSET_RULE),
            }
        elif from_time is not None:
            options = {
                "deliver_policy": DeliverPolicy.BY_START_TIME,
                "opt_start_time": datetime.fromtimestamp(from_time, UTC),
            }
        config = reader_config(self.prefix + topic, **options)
        # With a retention, events can expire while they are read: lingering pulls then,
        # since nats-server 2.9 leaves a no_wait pull for a vanished message unanswered.
        patience = 0.0 if self._retention is None else _EXPIRY_PATIENCE
        async for msg in read_stream(
            self.client, self.stream, config, limit=limit, patience=patience
        ):
            yield self.decode(msg)

    def decode(self, msg: Msg) -> Event:
        """The :class:`Event` of a message of the events stream."""
        headers = dict(msg.headers or {})
        event_id = headers.pop(_ID_HEADER, "")
        headers.pop(_MSG_ID_HEADER, None)
        topic = msg.subject[len(self.prefix) :]
        meta = msg.metadata
        seq = meta.sequence.stream
        return Event(
            id=event_id,
            topic=topic,
            payload=_codec.decode_json(msg.data, backend=BACKEND, location=f"{topic}@{seq}"),
            headers=headers,
            timestamp=meta.timestamp.timestamp(),
            offset=str(seq),
        )


def _headers(
    topic: str, headers: dict[str, str], ident: str, event_id: str | None
) -> dict[str, str]:
    """Add the event's id (and its dedupe id, when given) to ``headers``; return them."""
    headers[_ID_HEADER] = ident
    if event_id is not None:
        headers[_MSG_ID_HEADER] = f"{topic}:{event_id}"
    return headers


class NatsDelivery(DeliveryBase["NatsSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("acked", "reply")

    def __init__(
        self, subscription: NatsSubscription, event: Event, reply: str, attempt: int
    ) -> None:
        super().__init__(subscription, event, attempt)
        self.reply = reply
        self.acked = False

    async def ack(self) -> None:
        """Settle the event for the group; returns once the server confirmed the ack."""
        if not self.acked:
            await self._subscription.settle(self.reply)
            self.acked = True

    async def _nack(self, delay: float) -> None:
        if self.acked:
            return
        subscription = self._subscription
        if self._attempt >= subscription.max_deliveries:
            await subscription.dead_letter(self._event, self.reply, self._attempt, "nack")
            self.acked = True
            return
        body = b"-NAK" if delay <= 0 else b'-NAK {"delay": %d}' % int(delay * 1e9)
        await subscription.bus.client.publish(self.reply, body, "nacking an event")


class NatsSubscription(SubscriptionBase[NatsDelivery]):
    """One consumer of a group (see the protocol and the module docstring)."""

    def __init__(self, bus: NatsEventBus, puller: Puller, member: Member) -> None:
        super().__init__(member, bus.subscriptions)
        self.bus = bus
        self._puller = puller

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        deadline = time.monotonic() + wait
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            msgs = await self._puller.pull(max_messages, remaining)
            out: list[Delivery] = []
            for msg in msgs:
                event = self.bus.decode(msg)
                attempt = msg.metadata.num_delivered
                if attempt <= self.max_deliveries:
                    out.append(NatsDelivery(self, event, msg.reply, attempt))
                else:
                    await self.dead_letter(event, msg.reply, attempt - 1, "ack timeout")
            if out or not msgs or self._closed or time.monotonic() >= deadline:
                return out

    async def _ack_many(self, deliveries: list[NatsDelivery]) -> None:
        """Send every ack, then await the server's confirmations together."""
        todo = [delivery for delivery in deliveries if not delivery.acked]
        await asyncio.gather(*(self.settle(delivery.reply) for delivery in todo))
        for delivery in todo:
            delivery.acked = True

    async def settle(self, reply: str) -> None:
        """Ack the delivery behind ``reply`` and wait for the server's confirmation."""
        await self.bus.client.request(reply, _ACK, "acking an event")

    async def dead_letter(self, event: Event, reply: str, deliveries: int, cause: str) -> None:
        """Publish ``event`` to the dead-letter topic, then ack it for the group."""
        headers = self.dead_headers(event, cause, deliveries)
        data = _codec.encode_json(event.payload).encode()
        dead_id = f"dead-{self.group}-{event.offset}"
        await self.bus.append(self.dead_letter_topic, data, headers, dead_id)
        await self.settle(reply)

    async def _stop(self) -> None:
        await self._puller.close()
