"""Plain records passed between the T1 event bus and its subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from memfun_runtime.backends._delivery import Member

__all__ = ["Claim", "Claimed"]


@dataclass(frozen=True, slots=True)
class Claim:
    """A request for up to ``limit`` deliveries for one consumer of a group."""

    member: Member
    limit: int


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
