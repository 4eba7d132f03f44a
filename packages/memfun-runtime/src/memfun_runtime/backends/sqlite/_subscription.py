"""T1 subscriptions and deliveries: claim through the writer, wait locally, poll for others.

A fetch claims work in the group-commit transaction. When there is none it waits for a local
publish or nack on the topic (immediate), for the group's next due redelivery, or at most
``poll_interval`` seconds, and then probes on the read connection (cheap, takes no lock)
whether another process wrote something for the group before claiming again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

from memfun_runtime.backends._delivery import DeliveryBase, Member, SubscriptionBase
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._notify import wait_ticket
from memfun_runtime.backends.sqlite._records import Claim, Claimed
from memfun_runtime.backends.sqlite._writer import BatchOp
from memfun_runtime.protocols import Delivery, Event

__all__ = ["EventLog", "SQLiteDelivery", "SQLiteSubscription"]


@runtime_checkable
class EventLog(Protocol):
    """What a subscription needs of the T1 event bus (``SQLiteEventBus`` is one)."""

    @property
    def claim_op(self) -> BatchOp[Claim, list[Claimed]]:
        """The group-commit operation that claims deliveries."""
        ...

    @property
    def subscriptions(self) -> set[SubscriptionBase[Any]]:
        """The bus's open subscriptions."""
        ...

    def ack(self, keys: list[tuple[str, str, int]]) -> Awaitable[None]:
        """Settle deliveries (topic, group, seq) in one transaction; resolves once committed."""
        ...

    def nack(self, member: Member, seq: int, attempt: int, delay: float) -> Awaitable[None]:
        """Give one delivery back (or dead-letter it); resolves once that is committed."""
        ...

    def decode(self, topic: str, claimed: Claimed) -> Event:
        """Build the event of a claimed row."""
        ...


class SQLiteDelivery(DeliveryBase["SQLiteSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("seq",)

    def __init__(
        self, subscription: SQLiteSubscription, seq: int, attempt: int, event: Event
    ) -> None:
        self._subscription = subscription
        self.seq = seq
        self._attempt = attempt
        self._event = event

    async def ack(self) -> None:
        """Settle the event for the group; committed when this returns (first ack wins)."""
        member = self._subscription.member
        await self._subscription.bus.ack([(member.topic, member.group, self.seq)])

    async def _nack(self, delay: float) -> None:
        subscription = self._subscription
        await subscription.bus.nack(subscription.member, self.seq, self._attempt, delay)


class SQLiteSubscription(SubscriptionBase[SQLiteDelivery]):
    """One consumer of a group on the T1 file (see the protocol)."""

    def __init__(self, bus: EventLog, handle: Handle, member: Member) -> None:
        super().__init__(member, bus.subscriptions)
        self.bus = bus
        self._handle = handle
        self._next_due: float | None = None

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        db = self._handle.db
        claim = Claim(self.member, max_messages)
        topic = self.member.topic
        deadline = time.monotonic() + wait
        look = True
        while True:
            ticket = db.notifier.watch(topic)
            if look:
                claimed = await db.writer.submit(self.bus.claim_op, claim)
                if claimed:
                    decode = self.bus.decode
                    return [
                        SQLiteDelivery(self, c.seq, c.attempt, decode(topic, c)) for c in claimed
                    ]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return []
            sleep = min(remaining, self._handle.poll_interval)
            if self._next_due is not None:
                sleep = min(sleep, max(self._next_due - time.time(), 0.0))
            look = await wait_ticket(ticket, sleep) or await self._probe()
            if self._closed:
                return []

    async def _probe(self) -> bool:
        """Whether the group has new events or due redeliveries (read-only, no lock)."""
        row = await self._handle.db.read_one(
            "SELECT EXISTS (SELECT 1 FROM events WHERE topic = ? AND seq > "
            "(SELECT cursor FROM consumer_groups WHERE topic = ? AND grp = ?)), "
            "(SELECT min(visible_at) FROM deliveries WHERE topic = ? AND grp = ?)",
            (self.topic, self.topic, self.group, self.topic, self.group),
        )
        if row is None:
            return True
        self._next_due = None if row[1] is None else float(row[1])
        return bool(row[0]) or (self._next_due is not None and self._next_due <= time.time())

    async def _ack_many(self, deliveries: list[SQLiteDelivery]) -> None:
        topic, group = self.member.topic, self.member.group
        await self.bus.ack([(topic, group, delivery.seq) for delivery in deliveries])

    async def _stop(self) -> None:
        database = self._handle.database
        if database is not None:
            database.notifier.notify(self.topic)
