"""T1 subscriptions and deliveries: claim through the writer, wait locally, poll for others.

A fetch claims work in the group-commit transaction. When there is none it waits for a local
publish or nack on the topic (immediate), for the group's next due redelivery, or at most
``poll_interval`` seconds, and then probes on the read connection (cheap, takes no lock)
whether another process wrote something for the group before claiming again.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Protocol, runtime_checkable

from memfun_core.errors import ConflictError
from memfun_runtime import _codec
from memfun_runtime.backends._delivery import DeliveryBase, SubscriptionBase
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

    async def settle(
        self, claim: Claim, seq: int, attempt: int, *, nack: bool, delay: float = 0.0
    ) -> None:
        """Ack (or nack) one delivery; committed when this returns."""
        ...

    def decode(self, topic: str, claimed: Claimed) -> Event:
        """Build the event of a claimed row."""
        ...

    def forget(self, subscription: SQLiteSubscription) -> None:
        """Drop a closed subscription from the bus's open set."""
        ...


class SQLiteDelivery(DeliveryBase["SQLiteSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("_bus", "_claim", "_seq")

    def __init__(  # noqa: PLR0917 - built once per delivery; positional is the cheap call
        self,
        subscription: SQLiteSubscription,
        bus: EventLog,
        claim: Claim,
        seq: int,
        attempt: int,
        event: Event,
    ) -> None:
        self._subscription = subscription
        self._bus = bus
        self._claim = claim
        self._seq = seq
        self._attempt = attempt
        self._event = event

    async def ack(self) -> None:
        """Settle the event for the group; committed when this returns (first ack wins)."""
        await self._bus.settle(self._claim, self._seq, self._attempt, nack=False)

    async def nack(self, delay: float | None = None) -> None:
        """Give the event back for redelivery after ``delay`` seconds, or dead-letter it."""
        wait = 0.0 if delay is None else _codec.check_non_negative(delay, field="delay")
        await self._bus.settle(self._claim, self._seq, self._attempt, nack=True, delay=wait)


class SQLiteSubscription(SubscriptionBase):
    """One consumer of a group on the T1 file (see the protocol)."""

    def __init__(self, bus: EventLog, handle: Handle, claim: Claim) -> None:
        self._bus = bus
        self._handle = handle
        self._claim = claim
        self._closed = False
        self._next_due: float | None = None

    @property
    def topic(self) -> str:
        """The consumed topic."""
        return self._claim.topic

    @property
    def group(self) -> str:
        """The consumer group."""
        return self._claim.group

    @property
    def consumer(self) -> str:
        """This consumer's name."""
        return self._claim.consumer

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
        db = self._handle.db
        claim = dataclasses.replace(self._claim, limit=max_messages)
        deadline = time.monotonic() + limit
        look = True
        while True:
            ticket = db.notifier.watch(claim.topic)
            if look:
                claimed = await db.writer.submit(self._bus.claim_op, claim)
                if claimed:
                    return [
                        SQLiteDelivery(
                            self,
                            self._bus,
                            claim,
                            c.seq,
                            c.attempt,
                            self._bus.decode(claim.topic, c),
                        )
                        for c in claimed
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

    def _check_open(self) -> None:
        if self._closed:
            raise ConflictError(
                f"the subscription of consumer {self.consumer!r} to {self.topic!r} is closed",
                hint="subscribe again to keep consuming",
            )

    def _is_closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Stop receiving; wake a pending fetch. Idempotent. Pending deliveries stay pending."""
        if self._closed:
            return
        self._closed = True
        database = self._handle.database
        if database is not None:
            database.notifier.notify(self.topic)
        self._bus.forget(self)
