"""What every tier's deliveries and subscriptions share (the protocol's plumbing, once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Generic, Self, TypeVar

from memfun_runtime.protocols import Delivery, Event, Subscription

__all__ = ["DeliveryBase", "SubscriptionBase"]

ITER_BATCH = 16
"""Deliveries fetched per step when a subscription is iterated."""

S = TypeVar("S", bound=Subscription)


class DeliveryBase(Delivery, Generic[S]):
    """Base of the in-tree deliveries: the read-only side of the ``Delivery`` protocol.

    A tier's delivery sets ``_subscription``, ``_event`` and ``_attempt`` (in its own
    ``__init__``: it is built once per delivery, so it assigns them directly) and adds
    ``ack`` and ``nack``.
    """

    __slots__ = ("_attempt", "_event", "_subscription")

    _subscription: S
    _event: Event
    _attempt: int

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
        return self._subscription.group

    @property
    def consumer(self) -> str:
        """The consumer that received it."""
        return self._subscription.consumer


class SubscriptionBase(Subscription):
    """Base of the in-tree subscriptions: iteration and ``async with``.

    Both rest on the tier's own ``fetch`` and ``close``.
    """

    def _is_closed(self) -> bool:
        """Whether :meth:`close` ran (each tier keeps that its own way)."""
        raise NotImplementedError

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        """Yield deliveries as they arrive until the subscription is closed."""
        while not self._is_closed():
            for delivery in await self.fetch(ITER_BATCH, timeout=1.0):
                yield delivery

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
