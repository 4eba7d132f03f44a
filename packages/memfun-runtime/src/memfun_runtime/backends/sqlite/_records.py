"""Plain records passed between the T1 event bus and its subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Claim", "Claimed"]


@dataclass(frozen=True, slots=True)
class Claim:
    """A request for up to ``limit`` deliveries for one consumer of a group."""

    topic: str
    group: str
    consumer: str
    limit: int
    ack_timeout: float
    max_deliveries: int
    dead_topic: str


@dataclass(slots=True)
class Claimed:
    """One delivery made by a claim (the event not decoded yet).

    Not frozen: there is one per delivery, and a frozen dataclass's ``__init__`` is slower.
    """

    seq: int
    attempt: int
    id: str
    payload: str
    headers: str | None
    timestamp: float
