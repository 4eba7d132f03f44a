"""What a source tier holds beyond what the protocols can list: topics, groups, open tasks.

The protocols read state, sessions, registries and event logs on every tier, but cannot list
topics, consumer groups' positions or every open task. Each durable tier that can be a
migration source answers those three questions from its own storage (see ``_sources.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from memfun_runtime.protocols import Task

__all__ = ["GroupPosition", "Inventory", "OpenTask", "offset_order"]


def offset_order(offset: str) -> tuple[int, int]:
    """Sort key of an offset of any durable tier (a sequence number, or a Redis stream id)."""
    first, _, second = offset.partition("-")
    return int(first), int(second or 0)


@dataclass(frozen=True, slots=True)
class GroupPosition:
    """How far a consumer group of the source got on its topic, in the source's offsets.

    Attributes:
        topic: The group's topic.
        group: The group's name.
        through: Events up to this offset were handed to the group (``"0"``: none).
        acked_floor: Events up to this offset are acknowledged.
        pending: The unacknowledged offsets above ``acked_floor`` (``None``: every one of
            them up to ``through`` counts as unacknowledged, when the tier keeps no list).
    """

    topic: str
    group: str
    through: str
    acked_floor: str
    pending: frozenset[str] | None

    def handed(self, offset: str) -> bool:
        """Whether the event at ``offset`` was handed to the group."""
        return offset_order(offset) <= offset_order(self.through)

    def settled(self, offset: str) -> bool:
        """Whether the event at ``offset`` (handed to the group) was acknowledged."""
        if offset_order(offset) <= offset_order(self.acked_floor):
            return True
        return self.pending is not None and offset not in self.pending


@dataclass(frozen=True, slots=True)
class OpenTask:
    """A pending, delayed or leased task of the source, with its retry backoff."""

    task: Task
    backoff: float


@dataclass(frozen=True, slots=True)
class Inventory:
    """The source's topics, groups, open tasks (in lease order) and skills with invocations."""

    topics: tuple[str, ...]
    groups: tuple[GroupPosition, ...]
    tasks: tuple[OpenTask, ...]
    invoked_skills: tuple[str, ...]
