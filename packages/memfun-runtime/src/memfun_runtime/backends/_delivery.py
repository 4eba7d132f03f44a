"""The part every tier's delivery shares: the event, its attempt, its group and consumer."""

from __future__ import annotations

from typing import Generic, TypeVar

from memfun_runtime.protocols import Delivery, Event, Subscription

__all__ = ["DeliveryBase"]

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
