"""One consumer of a JetStream consumer group, and its deliveries."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, runtime_checkable

from nats.aio.msg import Msg

from memfun_runtime import _codec
from memfun_runtime.backends._delivery import DeliveryBase, Member, SubscriptionBase
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._pull import Puller
from memfun_runtime.backends.nats._wire import decode_event
from memfun_runtime.protocols import Delivery, Event

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

    @property
    def subscriptions(self) -> set[SubscriptionBase[Any]]:
        """The bus's open subscriptions."""
        ...


class NatsDelivery(DeliveryBase["NatsSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("acked", "reply")

    def __init__(
        self, subscription: NatsSubscription, *, event: Event, reply: str, attempt: int
    ) -> None:
        self._subscription = subscription
        self._event = event
        self.reply = reply
        self._attempt = attempt
        self.acked = False

    async def ack(self) -> None:
        """Settle the event for the group; returns once the server confirmed the ack."""
        if self.acked:
            return
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
        client = subscription.bus.client
        nc = client.nc
        await client.call("nacking an event", lambda: nc.publish(self.reply, body))


class NatsSubscription(SubscriptionBase[NatsDelivery]):
    """One consumer of a group (see the protocol and :mod:`._events`)."""

    def __init__(self, bus: StreamBus, puller: Puller, member: Member) -> None:
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
                delivery = await self._deliver(msg)
                if delivery is not None:
                    out.append(delivery)
            if out or not msgs or self._closed or time.monotonic() >= deadline:
                return out

    async def _deliver(self, msg: Msg) -> NatsDelivery | None:
        event = decode_event(msg, self.bus.prefix)
        attempt = msg.metadata.num_delivered
        if attempt > self.max_deliveries:
            await self.dead_letter(event, msg.reply, attempt - 1, "ack timeout")
            return None
        return NatsDelivery(self, event=event, reply=msg.reply, attempt=attempt)

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
