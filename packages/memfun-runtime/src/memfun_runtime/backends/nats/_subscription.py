"""One consumer of a JetStream consumer group, and its deliveries."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from nats.aio.msg import Msg

from memfun_core.errors import ConflictError
from memfun_runtime import _codec
from memfun_runtime.backends._delivery import DeliveryBase, SubscriptionBase
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._pull import Puller
from memfun_runtime.backends.nats._wire import decode_event
from memfun_runtime.protocols import (
    HEADER_DEAD_DELIVERIES,
    HEADER_DEAD_GROUP,
    HEADER_DEAD_ORIGINAL_ID,
    HEADER_DEAD_ORIGINAL_TOPIC,
    HEADER_DEAD_REASON,
    Delivery,
    Event,
)

__all__ = ["NatsDelivery", "NatsSubscription", "StreamBus"]

_ACK = b"+ACK"


@runtime_checkable
class StreamBus(Protocol):
    """What a subscription needs of the T3 event bus (``NatsEventBus`` is one)."""

    @property
    def client(self) -> NatsClient:
        """The shared connection."""
        ...

    @property
    def prefix(self) -> str:
        """The subject prefix of every topic."""
        ...

    async def append(
        self, topic: str, data: bytes, headers: dict[str, str], event_id: str | None
    ) -> str:
        """Store an already validated event (here: a dead letter)."""
        ...

    def forget(self, subscription: NatsSubscription) -> None:
        """Drop a closed subscription from the bus's open set."""
        ...


class NatsDelivery(DeliveryBase["NatsSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("_acked", "_reply", "_seq")

    def __init__(
        self, subscription: NatsSubscription, *, event: Event, reply: str, attempt: int, seq: int
    ) -> None:
        self._subscription = subscription
        self._event = event
        self._reply = reply
        self._attempt = attempt
        self._seq = seq
        self._acked = False

    async def ack(self) -> None:
        """Settle the event for the group; returns once the server confirmed the ack."""
        if self._acked:
            return
        await self._subscription.settle(self._reply)
        self._acked = True

    async def nack(self, delay: float | None = None) -> None:
        """Redeliver after ``delay`` seconds, or dead-letter on the last allowed delivery."""
        wait = 0.0 if delay is None else _codec.check_non_negative(delay, field="delay")
        if self._acked:
            return
        subscription = self._subscription
        if self._attempt >= subscription.max_deliveries:
            await subscription.dead_letter(self._event, self._reply, self._attempt, "nack")
            self._acked = True
            return
        body = b"-NAK" if wait <= 0 else b'-NAK {"delay": %d}' % int(wait * 1e9)
        client = subscription.bus.client
        nc = client.nc
        await client.call("nacking an event", lambda: nc.publish(self._reply, body))


class NatsSubscription(SubscriptionBase):
    """One consumer of a group (see the protocol and :mod:`._events`)."""

    def __init__(
        self,
        bus: StreamBus,
        puller: Puller,
        *,
        topic: str,
        group: str,
        consumer: str,
        max_deliveries: int,
        dead_letter_topic: str,
    ) -> None:
        self._bus = bus
        self._puller = puller
        self._topic = topic
        self._group = group
        self._consumer = consumer
        self.max_deliveries = max_deliveries
        self.dead_letter_topic = dead_letter_topic

    @property
    def bus(self) -> StreamBus:
        """The bus this subscription belongs to."""
        return self._bus

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

    async def fetch(
        self,
        max_messages: int = 1,
        *,
        timeout: float = 1.0,  # noqa: ASYNC109 - a bounded wait is the contract
    ) -> list[Delivery]:
        """Wait up to ``timeout`` seconds for at most ``max_messages`` deliveries."""
        _codec.check_int(max_messages, field="max_messages", minimum=1)
        limit = _codec.check_non_negative(timeout, field="timeout")
        if self._puller.closed:
            raise ConflictError(
                f"the subscription of consumer {self._consumer!r} to {self._topic!r} is closed",
                hint="subscribe again to keep consuming",
            )
        deadline = time.monotonic() + limit
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            msgs = await self._puller.pull(max_messages, remaining)
            out: list[Delivery] = []
            for msg in msgs:
                delivery = await self._deliver(msg)
                if delivery is not None:
                    out.append(delivery)
            if out or not msgs or self._puller.closed or time.monotonic() >= deadline:
                return out

    async def _deliver(self, msg: Msg) -> NatsDelivery | None:
        event = decode_event(msg, self._bus.prefix)
        meta = msg.metadata
        attempt = meta.num_delivered
        if attempt > self.max_deliveries:
            await self.dead_letter(event, msg.reply, attempt - 1, "ack timeout")
            return None
        return NatsDelivery(
            self, event=event, reply=msg.reply, attempt=attempt, seq=meta.sequence.stream
        )

    async def settle(self, reply: str) -> None:
        """Ack the delivery behind ``reply`` and wait for the server's confirmation."""
        await self._bus.client.request(reply, _ACK, "acking an event")

    async def dead_letter(self, event: Event, reply: str, deliveries: int, cause: str) -> None:
        """Publish ``event`` to the dead-letter topic, then ack it for the group."""
        headers = dict(event.headers)
        headers.update(
            {
                HEADER_DEAD_REASON: f"max deliveries ({self.max_deliveries}) reached after {cause}",
                HEADER_DEAD_ORIGINAL_TOPIC: event.topic,
                HEADER_DEAD_ORIGINAL_ID: event.id,
                HEADER_DEAD_GROUP: self._group,
                HEADER_DEAD_DELIVERIES: str(deliveries),
            }
        )
        data = _codec.encode_json(event.payload).encode()
        dead_id = f"dead-{self._group}-{event.offset}"
        await self._bus.append(self.dead_letter_topic, data, headers, dead_id)
        await self.settle(reply)

    def _is_closed(self) -> bool:
        return self._puller.closed

    async def close(self) -> None:
        """Stop receiving; wake a pending fetch. Idempotent."""
        if not self._puller.closed:
            await self._puller.close()
            self._bus.forget(self)
