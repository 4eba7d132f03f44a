"""Copy a project's runtime from one tier to another: resumable, idempotent, then verified.

Order: state, sessions, agents, skills, events (topic by topic, in publish order, keeping the
event ids), consumer groups (positioned like the source's), open tasks (leased ones queued
again). After each step, and every few hundred events, a checkpoint is written to the
TARGET's state (``memfun.migration.checkpoint``): a migration killed midway continues where
it stopped when run again. Every step can be repeated without duplicating anything: writes
are keyed (state keys, session, instance and task ids, skill versions), and appended
records (events, turns, invocations) continue after what the target already holds.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from memfun_core.errors import ConflictError
from memfun_runtime.migrate._inventory import GroupPosition, Inventory
from memfun_runtime.migrate._sources import read_inventory
from memfun_runtime.migrate._verify import CHECKPOINT_PREFIX, Verification, verify
from memfun_runtime.protocols import DEFAULT_ACK_TIMEOUT, JSONValue, TaskStatus

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.migrate._readable import Readable

__all__ = ["CHECKPOINT_KEY", "MigrationReport", "copy_into", "migrate", "quiet"]

CHECKPOINT_KEY = CHECKPOINT_PREFIX + "checkpoint"
"""The target's state key holding a migration's progress."""
MIGRATING_CONSUMER = "memfun-migrate"
"""The consumer name under which groups are positioned in the target."""
_STEPS = ("state", "sessions", "agents", "skills", "events", "groups", "tasks")
_EVERY = 500  # events between two checkpoints
_ALL = sys.maxsize


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a migration did.

    Attributes:
        copied: Records written per step in this run (a resumed run counts only its own).
        resumed: Whether the run continued a checkpoint of an earlier, interrupted run.
        verification: The comparison of source and target after the copy.
    """

    copied: dict[str, int]
    resumed: bool
    verification: Verification


@dataclass(slots=True)
class _Checkpoint:
    source: str
    done: list[str] = field(default_factory=list[str])
    groups: dict[str, int] = field(default_factory=dict[str, int])

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "done": self.done, "groups": self.groups}


class _Run:
    def __init__(
        self,
        source: Readable,
        target: Backend,
        inventory: Inventory,
        checkpoint: _Checkpoint,
        *,
        progress: Callable[[str], None],
        redeliver_after: float,
    ) -> None:
        self.redeliver_after = redeliver_after
        self.source = source
        self.target = target
        self.inventory = inventory
        self.checkpoint = checkpoint
        self.progress = progress
        self.copied: dict[str, int] = dict.fromkeys(_STEPS, 0)

    async def save(self) -> None:
        await self.target.state.set(CHECKPOINT_KEY, self.checkpoint.to_json())

    async def run(self) -> None:
        steps = {
            "state": self.state,
            "sessions": self.sessions,
            "agents": self.agents,
            "skills": self.skills,
            "events": self.events,
            "groups": self.groups,
            "tasks": self.tasks,
        }
        for name, step in steps.items():
            if name in self.checkpoint.done:
                continue
            self.progress(f"copying {name}")
            await step()
            self.checkpoint.done.append(name)
            await self.save()

    async def state(self) -> None:
        now = time.time()
        async for key, entry in self.source.state.scan(""):
            if key.startswith(CHECKPOINT_PREFIX):
                continue
            ttl = None if entry.expires_at is None else entry.expires_at - now
            if ttl is not None and ttl <= 0:
                continue  # expired while we read
            await self.target.state.set(key, entry.value, ttl=ttl)
            self.copied["state"] += 1

    async def sessions(self) -> None:
        for session in await self.source.sessions.list(limit=_ALL):
            copy = await self.target.sessions.get(session.id)
            if copy is None:
                copy = await self.target.sessions.create(
                    session_id=session.id, metadata=session.metadata, ttl=session.ttl
                )
            turns = await self.source.sessions.read(session.id, start=copy.turn_count)
            for turn in turns:
                await self.target.sessions.append(
                    session.id, turn.role, turn.content, metadata=turn.metadata
                )
            self.copied["sessions"] += 1

    async def agents(self) -> None:
        now = time.time()
        for instance in await self.source.agents.list():
            ttl = instance.expires_at - now
            if ttl <= 0:
                continue
            await self.target.agents.register(
                instance.name,
                capabilities=instance.capabilities,
                instance_id=instance.instance_id,
                metadata=instance.metadata,
                ttl=ttl,
            )
            self.copied["agents"] += 1

    async def skills(self) -> None:
        source, target = self.source.skills, self.target.skills
        for latest in await source.list():
            for v in await source.versions(latest.name):
                await target.publish(
                    v.name, v.version, description=v.description, metadata=v.metadata
                )
                self.copied["skills"] += 1
        for name in self.inventory.invoked_skills:
            records = list(reversed(await source.invocations(name, limit=_ALL)))
            already = len(await target.invocations(name, limit=_ALL))
            for r in records[already:]:
                await target.record_invocation(
                    name,
                    outcome=r.outcome,
                    latency=r.latency,
                    version=r.version,
                    tokens=r.tokens,
                    cost=r.cost,
                    metadata=r.metadata,
                )
                self.copied["skills"] += 1

    async def events(self) -> None:
        for topic in self.inventory.topics:
            already = 0
            async for _ in self.target.events.replay(topic):
                already += 1
            index = 0
            async for event in self.source.events.replay(topic):
                index += 1
                if index <= already:
                    continue
                await self.target.events.publish(
                    topic, event.payload, headers=event.headers, event_id=event.id
                )
                self.copied["events"] += 1
                if self.copied["events"] % _EVERY == 0:
                    self.progress(f"copied {self.copied['events']} events")

    async def groups(self) -> None:
        for position in self.inventory.groups:
            await self.group(position)

    async def group(self, position: GroupPosition) -> None:
        """Make the target's group acknowledge what the source's group acknowledged.

        The migrating consumer receives every event the source's group was handed, in order,
        and acks the acknowledged ones; the others stay unacknowledged and are delivered
        again after the ack timeout (as after a consumer crash): at least once, none lost.
        """
        key = f"{position.topic}/{position.group}"
        handled = self.checkpoint.groups.get(key, 0)
        if handled < 0:
            return  # positioned by an earlier run
        acked: set[str] = set()
        handed = 0
        async for event in self.source.events.replay(position.topic):
            if not position.handed(event.offset):
                break
            handed += 1
            if position.settled(event.offset):
                acked.add(event.id)
        start = "earliest" if handed else "new"
        subscription = await self.target.events.subscribe(
            position.topic,
            position.group,
            consumer=MIGRATING_CONSUMER,
            ack_timeout=self.redeliver_after,
            start=start,
        )
        try:
            while handed - handled > 0:
                batch = await subscription.fetch(min(100, handed - handled), timeout=2.0)
                if not batch:
                    break
                await asyncio.gather(*(d.ack() for d in batch if d.event.id in acked))
                handled += len(batch)
                self.checkpoint.groups[key] = handled
                await self.save()
        finally:
            await subscription.close()
        self.checkpoint.groups[key] = -1
        self.copied["groups"] += 1

    async def tasks(self) -> None:
        now = time.time()
        for item in self.inventory.tasks:
            task = item.task
            delay = 0.0
            if task.status is TaskStatus.PENDING:
                delay = max(0.0, task.available_at - now)
            await self.target.tasks.enqueue(
                task.queue,
                task.payload,
                priority=task.priority,
                delay=delay,
                task_id=task.id,
                max_attempts=task.max_attempts,
                backoff=item.backoff,
            )
            self.copied["tasks"] += 1


def _resume(value: JSONValue, source_name: str) -> _Checkpoint:
    stored: dict[str, Any] = cast("dict[str, Any]", value) if isinstance(value, dict) else {}
    if stored.get("source") != source_name:
        raise ConflictError(
            f"the target holds a migration from {stored.get('source')!r}, not {source_name!r}",
            hint="migrate into an empty namespace, or resume from the same source",
        )
    done: list[Any] = stored.get("done") or []
    groups: dict[str, Any] = stored.get("groups") or {}
    return _Checkpoint(
        source_name, [str(d) for d in done], {str(k): int(v) for k, v in groups.items()}
    )


async def _begin(target: Backend, inventory: Inventory, source_name: str) -> _Checkpoint | None:
    """The checkpoint of an interrupted run, or ``None`` after checking the target is empty.

    Raises:
        ConflictError: The target holds a checkpoint of another source, or data already.
    """
    entry = await target.state.get(CHECKPOINT_KEY)
    if entry is not None:
        return _resume(entry.value, source_name)
    found: str | None = None
    async for key, _ in target.state.scan(""):
        found = f"state key {key!r}"
        break
    if found is None and await target.sessions.list(limit=1):
        found = "a session"
    for topic in inventory.topics:
        if found is None:
            async for _ in target.events.replay(topic, limit=1):
                found = f"events on {topic!r}"
    if found is not None:
        raise ConflictError(
            f"the migration target is not empty (it holds {found})",
            hint="migrate into a fresh namespace or database, or delete the target's data",
        )
    return None


async def migrate(
    source: Backend,
    target: Backend,
    *,
    source_name: str,
    progress: Callable[[str], None] | None = None,
    redeliver_after: float = DEFAULT_ACK_TIMEOUT,
) -> MigrationReport:
    """Copy everything of ``source`` into ``target`` (both started), then verify the copy.

    Args:
        source: A started SQLite or NATS backend.
        target: A started backend of any tier: empty, or holding the checkpoint of an
            interrupted migration from the same source (which is then resumed).
        source_name: Identifies the source in the checkpoint (e.g. ``sqlite:.memfun/runtime.db``),
            so a resumed run cannot mix two sources.
        progress: Called with a line of text at each step.
        redeliver_after: Seconds after which the events a source group had received but not
            acknowledged are delivered again to the target group's consumers (the ack
            timeout of the migrating consumer; on NATS also the group's until a consumer
            subscribes with its own).

    Raises:
        ConflictError: The target is not empty, or holds another source's migration.
        UserError: The source's tier cannot be a migration source.
    """
    say: Callable[[str], None] = progress or quiet
    say("reading the source's inventory")
    inventory = await read_inventory(source)
    return await copy_into(
        source,
        target,
        inventory,
        source_name=source_name,
        progress=say,
        redeliver_after=redeliver_after,
    )


async def copy_into(
    source: Readable,
    target: Backend,
    inventory: Inventory,
    *,
    source_name: str,
    progress: Callable[[str], None] | None = None,
    redeliver_after: float = DEFAULT_ACK_TIMEOUT,
) -> MigrationReport:
    """:func:`migrate` from any readable source whose ``inventory`` is known (a snapshot file).

    Raises:
        ConflictError: The target is not empty, or holds another source's migration.
    """
    say: Callable[[str], None] = progress or quiet
    checkpoint = await _begin(target, inventory, source_name)
    resumed = checkpoint is not None
    run = _Run(
        source,
        target,
        inventory,
        checkpoint or _Checkpoint(source_name),
        progress=say,
        redeliver_after=redeliver_after,
    )
    await run.save()
    await run.run()
    say("verifying")
    verification = await verify(source, target, inventory)
    return MigrationReport(run.copied, resumed, verification)


def quiet(_: str) -> None:
    """A progress callback that says nothing."""
