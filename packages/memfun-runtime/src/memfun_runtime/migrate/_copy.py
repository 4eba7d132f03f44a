"""Copy a project's runtime from one tier to another: resumable, idempotent, then verified.

Order: state, sessions, agents, skills, events (topic by topic, in publish order, keeping the
event ids), consumer groups (positioned like the source's), open tasks (leased ones queued
again), each record as :mod:`._records` reads it. After each step, and while groups are
positioned, a checkpoint is written to the TARGET's state (``memfun.migration.checkpoint``):
a migration killed midway continues where it stopped when run again. Every step can be
repeated without duplicating anything: writes are keyed (state keys, session, instance and
task ids, skill versions), and appended records (events, turns, invocations) continue after
what the target already holds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from memfun_core.errors import ConflictError
from memfun_runtime.migrate._inventory import Inventory
from memfun_runtime.migrate._records import (
    ALL,
    CHECKPOINT_PREFIX,
    STEPS,
    Record,
    position,
    read_step,
)
from memfun_runtime.migrate._sources import read_inventory
from memfun_runtime.migrate._verify import Verification, verify
from memfun_runtime.protocols import DEFAULT_ACK_TIMEOUT, JSONValue, TaskStatus

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.migrate._readable import Readable

__all__ = ["CHECKPOINT_KEY", "MigrationReport", "copy_into", "migrate", "quiet"]

CHECKPOINT_KEY = CHECKPOINT_PREFIX + "checkpoint"
"""The target's state key holding a migration's progress."""
MIGRATING_CONSUMER = "memfun-migrate"
"""The consumer name under which groups are positioned in the target."""
_EVERY = 500  # records between two progress lines


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
        self.copied: dict[str, int] = dict.fromkeys(STEPS, 0)
        self.seen: Counter[tuple[str, str]] = Counter()
        self.held: dict[tuple[str, str], int] = {}

    async def save(self) -> None:
        await self.target.state.set(CHECKPOINT_KEY, self.checkpoint.to_json())

    async def run(self) -> None:
        writers: dict[str, Callable[[Record], Awaitable[bool]]] = {
            "state": self.state,
            "session": self.session,
            "agent": self.agent,
            "skill": self.skill,
            "invocation": self.invocation,
            "event": self.event,
            "group": self.group,
            "task": self.task,
        }
        for step in STEPS:
            if step in self.checkpoint.done:
                continue
            self.progress(f"copying {step}")
            async for kind, record in read_step(step, self.source, self.inventory):
                if await writers[kind](record):
                    self.copied[step] += 1
                    if self.copied[step] % _EVERY == 0:
                        self.progress(f"copied {self.copied[step]} {step}")
            self.checkpoint.done.append(step)
            await self.save()

    async def _new(self, kind: str, name: str) -> bool:
        """Whether the next record of an appended log is not in the target yet.

        The logs are a topic's events and a skill's invocations: a resumed run continues
        after the records the target held when the run began.
        """
        log = (kind, name)
        if log not in self.held:
            if kind == "event":
                self.held[log] = sum([1 async for _ in self.target.events.replay(name)])
            else:
                self.held[log] = len(await self.target.skills.invocations(name, limit=ALL))
        self.seen[log] += 1
        return self.seen[log] > self.held[log]

    async def state(self, r: Record) -> bool:
        ttl = None if r["expires_at"] is None else r["expires_at"] - time.time()
        if ttl is not None and ttl <= 0:
            return False  # expired while we read
        await self.target.state.set(r["key"], r["value"], ttl=ttl)
        return True

    async def session(self, r: Record) -> bool:
        sessions = self.target.sessions
        copy = await sessions.get(r["id"]) or await sessions.create(
            session_id=r["id"], metadata=r["metadata"], ttl=r["ttl"]
        )
        for role, content, metadata in r["turns"][copy.turn_count :]:
            await sessions.append(r["id"], role, content, metadata=metadata)
        return True

    async def agent(self, r: Record) -> bool:
        ttl = r["expires_at"] - time.time()
        if ttl <= 0:
            return False
        await self.target.agents.register(
            r["name"],
            capabilities=r["capabilities"],
            instance_id=r["instance_id"],
            metadata=r["metadata"],
            ttl=ttl,
        )
        return True

    async def skill(self, r: Record) -> bool:
        await self.target.skills.publish(
            r["name"], r["version"], description=r["description"], metadata=r["metadata"]
        )
        return True

    async def invocation(self, r: Record) -> bool:
        if not await self._new("invocation", r["skill"]):
            return False
        await self.target.skills.record_invocation(
            r["skill"],
            outcome=r["outcome"],
            latency=r["latency"],
            version=r["version"],
            tokens=r["tokens"],
            cost=r["cost"],
            metadata=r["metadata"],
        )
        return True

    async def event(self, r: Record) -> bool:
        if not await self._new("event", r["topic"]):
            return False
        await self.target.events.publish(
            r["topic"], r["payload"], headers=r["headers"], event_id=r["id"]
        )
        return True

    async def group(self, r: Record) -> bool:
        """Make the target's group acknowledge what the source's group acknowledged.

        The migrating consumer receives every event the source's group was handed, in order,
        and acks the acknowledged ones; the others stay unacknowledged and are delivered
        again after the ack timeout (as after a consumer crash): at least once, none lost.
        """
        group = position(r)
        key = f"{group.topic}/{group.group}"
        handled = self.checkpoint.groups.get(key, 0)
        if handled < 0:
            return False  # positioned by an earlier run
        acked: set[str] = set()
        handed = 0
        async for event in self.source.events.replay(group.topic):
            if not group.handed(event.offset):
                break
            handed += 1
            if group.settled(event.offset):
                acked.add(event.id)
        subscription = await self.target.events.subscribe(
            group.topic,
            group.group,
            consumer=MIGRATING_CONSUMER,
            ack_timeout=self.redeliver_after,
            start="earliest" if handed else "new",
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
        return True

    async def task(self, r: Record) -> bool:
        delay = 0.0
        if r["status"] == TaskStatus.PENDING.value:
            delay = max(0.0, r["available_at"] - time.time())
        await self.target.tasks.enqueue(
            r["queue"],
            r["payload"],
            priority=r["priority"],
            delay=delay,
            task_id=r["id"],
            max_attempts=r["max_attempts"],
            backoff=r["backoff"],
        )
        return True


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
