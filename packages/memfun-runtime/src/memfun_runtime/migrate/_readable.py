"""What a migration reads from its source: the read side of each service.

A started :class:`~memfun_runtime._backend.Backend` of any tier is one; so is a snapshot
file read back (:class:`RecordView` over its records), which makes an import a migration
like any other.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from memfun_runtime.protocols import (
    AgentInstance,
    Entry,
    Event,
    Session,
    SkillInvocation,
    SkillVersion,
    Task,
    TaskStatus,
    Turn,
)

__all__ = ["Readable", "RecordView", "task_of"]


class StateReader(Protocol):
    """The state reads of a migration."""

    def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Every live key under ``prefix``."""
        ...


class SessionReader(Protocol):
    """The session reads of a migration."""

    async def list(self, *, limit: int = 100) -> list[Session]:
        """Sessions, most recently updated first."""
        ...

    async def read(self, session_id: str) -> list[Turn]:
        """A session's turns."""
        ...


class AgentReader(Protocol):
    """The agent-registry reads of a migration."""

    async def list(self) -> list[AgentInstance]:
        """Live instances."""
        ...


class SkillReader(Protocol):
    """The skill-registry reads of a migration."""

    async def list(self) -> list[SkillVersion]:
        """The latest version of every skill."""
        ...

    async def versions(self, name: str) -> list[SkillVersion]:
        """Every version of a skill, oldest first."""
        ...

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        """A skill's invocations, newest first."""
        ...


class EventReader(Protocol):
    """The event reads of a migration."""

    def replay(self, topic: str) -> AsyncIterator[Event]:
        """A topic's log in publish order."""
        ...


class TaskReader(Protocol):
    """The task reads of a migration."""

    async def get(self, queue: str, task_id: str) -> Task | None:
        """One task."""
        ...


class Readable(Protocol):
    """A runtime a migration can read from (a backend, or a snapshot file read back)."""

    @property
    def state(self) -> StateReader:
        """Key-value state."""
        ...

    @property
    def sessions(self) -> SessionReader:
        """Sessions and their turns."""
        ...

    @property
    def agents(self) -> AgentReader:
        """The agent registry."""
        ...

    @property
    def skills(self) -> SkillReader:
        """The skill registry."""
        ...

    @property
    def events(self) -> EventReader:
        """Event logs."""
        ...

    @property
    def tasks(self) -> TaskReader:
        """Tasks."""
        ...


Records = dict[str, list[dict[str, Any]]]


def task_of(r: dict[str, Any]) -> Task:
    """The task a ``task`` record holds."""
    return Task(
        id=r["id"],
        queue=r["queue"],
        payload=r["payload"],
        priority=int(r["priority"]),
        status=TaskStatus(r["status"]),
        attempts=int(r["attempts"]),
        max_attempts=int(r["max_attempts"]),
        enqueued_at=float(r["enqueued_at"]),
        available_at=float(r["available_at"]),
    )


class RecordView:
    """Records by kind (a snapshot's) seen through the read side of every service."""

    def __init__(self, records: Records) -> None:
        self.state = _State(records.get("state", []))
        self.sessions = _Sessions(records.get("session", []))
        self.agents = _Agents(records.get("agent", []))
        self.skills = _Skills(records.get("skill", []), records.get("invocation", []))
        self.events = _Events(records.get("event", []))
        self.tasks = _Tasks(records.get("task", []))


class _State:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        now = time.time()
        for r in self._records:
            expires = r["expires_at"]
            if r["key"].startswith(prefix) and (expires is None or expires > now):
                yield r["key"], Entry(r["value"], 0, expires)


class _Sessions:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = {r["id"]: r for r in records}

    async def list(self, *, limit: int = 100) -> list[Session]:
        return [
            Session(r["id"], r["metadata"], turn_count=len(r["turns"]), ttl=r["ttl"])
            for r in list(self._records.values())[:limit]
        ]

    async def read(self, session_id: str) -> list[Turn]:
        turns = self._records[session_id]["turns"]
        return [Turn(index, *turn) for index, turn in enumerate(turns)]


class _Agents:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records

    async def list(self) -> list[AgentInstance]:
        return [
            AgentInstance(
                r["instance_id"],
                r["name"],
                frozenset(r["capabilities"]),
                r["metadata"],
                expires_at=float(r["expires_at"]),
            )
            for r in self._records
        ]


class _Skills:
    def __init__(self, versions: list[dict[str, Any]], calls: list[dict[str, Any]]) -> None:
        self._versions: dict[str, list[SkillVersion]] = {}
        for r in versions:
            version = SkillVersion(r["name"], r["version"], r["description"], r["metadata"])
            self._versions.setdefault(r["name"], []).append(version)
        self._calls: dict[str, list[SkillInvocation]] = {}
        for index, r in enumerate(calls):
            call = SkillInvocation(
                f"i{index}", r["skill"], r["version"], r["outcome"], float(r["latency"]),
                int(r["tokens"]), float(r["cost"]), r["metadata"],
            )  # fmt: skip
            self._calls.setdefault(r["skill"], []).append(call)

    async def list(self) -> list[SkillVersion]:
        return [versions[-1] for versions in self._versions.values()]

    async def versions(self, name: str) -> list[SkillVersion]:
        return list(self._versions.get(name, []))

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        return list(reversed(self._calls.get(skill, [])))[:limit]


class _Events:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._topics: dict[str, list[Event]] = {}
        for r in records:
            event = Event(
                r["id"], r["topic"], r["payload"], r["headers"], float(r["timestamp"]), r["offset"]
            )
            self._topics.setdefault(r["topic"], []).append(event)

    async def replay(self, topic: str) -> AsyncIterator[Event]:
        for event in self._topics.get(topic, []):
            yield event


class _Tasks:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._tasks = {(r["queue"], r["id"]): task_of(r) for r in records}

    async def get(self, queue: str, task_id: str) -> Task | None:
        return self._tasks.get((queue, task_id))
