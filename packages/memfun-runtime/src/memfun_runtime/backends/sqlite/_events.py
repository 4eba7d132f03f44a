"""The T1 event bus: an append-only log per topic, group cursors and per-delivery state.

``events`` is the log (``seq`` a global, increasing offset); ``consumer_groups`` holds each
group's integer id and cursor; ``deliveries`` each event a group received but has not
settled, keyed by group id and seq, like a Redis pending entries list. A claim first takes
the group's due deliveries (redelivery or dead letter), then advances the cursor. Claims, acks
and nacks run in the group-commit transaction, so consumers in several processes never receive
the same delivery twice.

A fetch that finds nothing waits for a local publish or nack (immediate), the next due
redelivery or ``poll_interval``, then probes the reader (no lock) before claiming again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import orjson

from memfun_runtime import _codec
from memfun_runtime.backends._delivery import (
    DeliveryBase,
    EventBusBase,
    Member,
    SubscriptionBase,
    dead_letter_headers,
    new_event,
    sequence_offset,
)
from memfun_runtime.backends.sqlite._database import Handle
from memfun_runtime.backends.sqlite._writer import BatchOp, Failed, Tx, wait_ticket
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW, Delivery, Event, JSONValue

__all__ = ["PRUNE_EVENTS", "SQLiteEventBus"]

_REPLAY_PAGE = 500
# One read per claimed group: (kind, seq, attempt, max_deliveries, dead_topic, id, payload,
# headers, ts); kind 1 = a due delivery (its event joined; id NULL if no longer retained),
# kind 0 = a new event after the group's cursor. The due index is named: left to itself,
# SQLite walks the primary key for ORDER BY seq, i.e. every pending delivery of the group.
_CLAIM = (
    "SELECT * FROM (SELECT 1, d.seq, d.attempt, d.max_deliveries, d.dead_topic, e.id, "
    "e.payload, e.headers, e.ts FROM (SELECT seq, attempt, max_deliveries, dead_topic "
    "FROM deliveries INDEXED BY deliveries_due WHERE gid = ? AND visible_at <= ? "
    "ORDER BY seq LIMIT ?) d LEFT JOIN events e ON e.seq = d.seq) "
    "UNION ALL "
    "SELECT * FROM (SELECT 0, seq, 0, 0, NULL, id, payload, headers, ts FROM events "
    "WHERE topic = ? AND seq > (SELECT cursor FROM consumer_groups WHERE id = ?) "
    "ORDER BY seq LIMIT ?)"
)
_DELETE = "DELETE FROM deliveries WHERE gid = ? AND seq = ?"
# Many rows in ONE statement, their seqs in a JSON array: an ``executemany`` steps once per
# row, and the sqlite3 module hands the GIL over at each step (2.5 -> 1.3 us per delivery
# inserted and deleted with the loop idle; 681 -> 187 us while another thread runs Python).
_SETTLE = "DELETE FROM deliveries WHERE gid = ? AND seq IN (SELECT value FROM json_each(?))"
_HAND = (
    "INSERT INTO deliveries (gid, seq, consumer, attempt, visible_at, max_deliveries, "
    "dead_topic) SELECT ?, value, ?, 1, ?, ?, ? FROM json_each(?)"
)
PRUNE_EVENTS = (
    "DELETE FROM events WHERE seq < COALESCE("
    "(SELECT seq FROM events WHERE ts > ? ORDER BY seq LIMIT 1), "
    "(SELECT max(seq) FROM events))"
)
"""Retention: drop the log's head up to the first event newer than the cut-off (a parameter).

Walks only what it deletes (``WHERE ts <= ?`` read the whole log at every clean-up). Events
leave in log order, so one stamped earlier than an event before it (another process's
clock) stays until that one goes. The newest event always stays: a new event's seq is the
largest one stored plus one, so emptying the log would hand out offsets again that consumer
groups' cursors have passed."""
_INSERT = "INSERT INTO events (topic, id, payload, headers, ts) VALUES (?, ?, ?, ?, ?)"
_INSERT_ALL = (
    "INSERT INTO events (topic, id, payload, headers, ts) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), ? "
    "FROM json_each(?) ORDER BY key"
)
_SMALL = 512
"""Average payload length (characters) up to which a batch of events is stored by
``_INSERT_ALL`` from one JSON array: one step instead of one per event (16% more events
a second at 100 B, one consumer). Larger payloads go by ``executemany``: escaping them into
the array and SQLite's parse of it cost more than the steps save (10 KB: 63 -> 164 us)."""

_Publish = tuple[str, str, str, str | None, bool]
"""A publish: topic, event id, payload and headers (JSON), whether the id was given."""
_Key = tuple[int, int]
"""A delivery's key: group id, seq (an ack)."""
_Row = tuple[int, int, int, int, str]
"""A delivery row: group id, seq, attempt, max deliveries, dead-letter topic."""
_Nack = tuple["SQLiteSubscription", int, int, float]
"""A nack: the subscription, seq, attempt and delay."""


@dataclass(frozen=True, slots=True)
class _Claim:
    """A request for up to ``limit`` deliveries for one consumer of a group (id ``gid``)."""

    member: Member
    gid: int
    limit: int


@dataclass(slots=True)
class _Claimed:
    """One delivery made by a claim (not frozen: a frozen ``__init__`` is slower)."""

    seq: int
    attempt: int
    id: str
    payload: str
    headers: str | None
    timestamp: float


@dataclass(slots=True)
class _ClaimWrites:
    """What one group's claims change: redeliveries, first deliveries, lost events, cursor.

    ``inserts`` holds, per claim, the row values its first deliveries share (consumer,
    visible until, max deliveries, dead-letter topic) and their seqs (perhaps none).
    """

    updates: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    inserts: list[tuple[tuple[object, ...], list[int]]] = field(
        default_factory=list[tuple[tuple[object, ...], list[int]]]
    )
    gone: list[_Key] = field(default_factory=list[_Key])
    cursor: int | None = None


def _insert_events(tx: Tx, rows: list[tuple[str, str, str, str | None, float]], now: float) -> None:
    """Append ``rows`` (topic, id, payload, headers, time) to the log in their order."""
    if len(rows) > 1 and sum(len(row[2]) for row in rows) <= _SMALL * len(rows):
        tx.execute(_INSERT_ALL, (now, orjson.dumps([row[:4] for row in rows]).decode()))
    else:
        tx.executemany(_INSERT, rows)


def _seqs(seqs: list[int]) -> str:
    """The JSON array of ``seqs`` that ``_SETTLE`` and ``_HAND`` read with ``json_each``."""
    return orjson.dumps(seqs).decode()


class SQLiteEventBus(EventBusBase["SQLiteSubscription", str]):
    """:class:`~memfun_runtime.protocols.EventBus` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle, *, dedupe_window: float = DEFAULT_DEDUPE_WINDOW) -> None:
        super().__init__()
        self.handle = handle
        self._dedupe_window = _codec.check_positive(dedupe_window, field="dedupe_window")
        self._publish_op = BatchOp("publishing", self._apply_publish)
        self.claim_op = BatchOp("receiving events", self._apply_claims)
        self._ack_op = BatchOp("acknowledging", self._apply_acks)
        self._nack_op = BatchOp("giving back", self._apply_nacks)

    # --- publish ---------------------------------------------------------------------------

    def _encode(self, payload: JSONValue, field: str) -> str:
        return _codec.encode_json(payload, field=field)

    def _publish_many(
        self, topic: str, payloads: list[str], headers: dict[str, str], event_ids: list[str | None]
    ) -> asyncio.Future[list[str]]:
        """Queue the events as ONE call: they commit in one transaction, all or none."""
        head = _codec.encode_json(headers, field="headers") if headers else None
        items: list[_Publish] = [
            (topic, event_id or _codec.new_id(), payload, head, event_id is not None)
            for payload, event_id in zip(payloads, event_ids, strict=True)
        ]
        return self.handle.db.writer.submit(self._publish_op, items)

    def _apply_publish(self, tx: Tx, calls: list[list[_Publish]]) -> list[list[str]]:
        """Store every call's events with one ``executemany``; each call gets its ids."""
        results: list[str] = []
        rows: list[tuple[str, str, str, str | None, float]] = []
        seen: set[tuple[str, str]] = set()
        now = tx.now
        for topic, event_id, payload, headers, dedupe in (item for c in calls for item in c):
            results.append(event_id)
            if dedupe:
                if self._is_duplicate(tx, topic, event_id, seen):
                    continue
                seen.add((topic, event_id))
            rows.append((topic, event_id, payload, headers, now))
        if rows:
            _insert_events(tx, rows, now)
            for topic in {row[0] for row in rows}:
                tx.wake(topic)
        ids = iter(results)
        return [[next(ids) for _ in call] for call in calls]

    def _is_duplicate(self, tx: Tx, topic: str, event_id: str, seen: set[tuple[str, str]]) -> bool:
        if (topic, event_id) in seen:
            return True
        row = tx.fetchone(
            "SELECT expires_at FROM event_ids WHERE topic = ? AND id = ?", (topic, event_id)
        )
        if row is not None and float(row[0]) > tx.now:
            return True
        tx.execute(
            "INSERT INTO event_ids (topic, id, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (topic, id) DO UPDATE SET expires_at = excluded.expires_at",
            (topic, event_id, tx.now + self._dedupe_window),
        )
        return False

    # --- subscribe and claim ---------------------------------------------------------------

    async def _join(self, member: Member) -> SQLiteSubscription:
        topic, group, newest = member.topic, member.group, member.start == "new"

        def join(tx: Tx) -> int:
            # The no-op update makes RETURNING answer for a group that already exists too.
            (row,) = tx.fetchall(
                "INSERT INTO consumer_groups (topic, grp, cursor, created_at) VALUES "
                "(?, ?, CASE WHEN ? THEN COALESCE((SELECT max(seq) FROM events), 0) ELSE 0 END, ?)"
                " ON CONFLICT (topic, grp) DO UPDATE SET topic = excluded.topic RETURNING id",
                (topic, group, newest, tx.now),
            )
            return int(row[0])

        return SQLiteSubscription(self, member, await self.handle.db.writer.transaction(join))

    def _apply_claims(self, tx: Tx, items: list[_Claim]) -> list[list[_Claimed] | Failed]:
        """Serve every claim of the batch; claims on one group share one read."""
        by_group: dict[int, list[int]] = {}
        for index, item in enumerate(items):
            by_group.setdefault(item.gid, []).append(index)
        results: list[list[_Claimed] | Failed] = [[] for _ in items]
        for gid, indexes in by_group.items():
            served = self._claim_group(tx, gid, [items[i] for i in indexes])
            for index, claimed in zip(indexes, served, strict=True):
                results[index] = claimed
        return results

    def _claim_group(self, tx: Tx, gid: int, claims: list[_Claim]) -> list[list[_Claimed]]:
        """Hand due redeliveries first, then new events, to ``claims`` (one group) in order."""
        first = claims[0].member
        total = sum(claim.limit for claim in claims)
        rows = tx.fetchall(_CLAIM, (gid, tx.now, total, first.topic, gid, total))
        due = sorted((row for row in rows if row[0] == 1), key=lambda row: int(row[1]))
        new = sorted((row for row in rows if row[0] == 0), key=lambda row: int(row[1]))
        live: list[sqlite3.Row] = []
        for row in due:
            seq, attempt, limit, dead_topic = int(row[1]), int(row[2]), int(row[3]), str(row[4])
            if attempt >= limit:
                self._dead_letter(tx, first, (gid, seq, attempt, limit, dead_topic), "ack timeout")
            else:
                live.append(row)
        pool = live + new
        out: list[list[_Claimed]] = [[] for _ in claims]
        writes = _ClaimWrites()
        position = 0
        for served, claim in zip(out, claims, strict=True):
            member = claim.member
            # What a delivery row records of its consumer: who, until when, with which limits.
            holder = (member.consumer, tx.now + member.ack_timeout)
            limits = (member.max_deliveries, member.dead_letter_topic)
            handed: list[int] = []
            writes.inserts.append(((*holder, *limits), handed))
            while len(served) < claim.limit and position < len(pool):
                row = pool[position]
                position += 1
                seq = int(row[1])
                if row[0] == 0:
                    attempt = 1
                    writes.cursor = seq
                    handed.append(seq)
                elif row[5] is None:  # the event is no longer retained
                    writes.gone.append((gid, seq))
                    continue
                else:
                    attempt = int(row[2]) + 1
                    writes.updates.append((holder[0], attempt, holder[1], *limits, gid, seq))
                served.append(_Claimed(seq, attempt, row[5], row[6], row[7], row[8]))
        self._record_claims(tx, gid, writes)
        return out

    def _record_claims(self, tx: Tx, gid: int, writes: _ClaimWrites) -> None:
        if writes.updates:
            tx.executemany(
                "UPDATE deliveries SET consumer = ?, attempt = ?, visible_at = ?, "
                "max_deliveries = ?, dead_topic = ? WHERE gid = ? AND seq = ?",
                writes.updates,
            )
        if writes.gone:
            tx.executemany(_DELETE, writes.gone)
        for shared, seqs in writes.inserts:
            if seqs:
                tx.execute(_HAND, (gid, *shared, _seqs(seqs)))
        if writes.cursor is not None:
            tx.execute("UPDATE consumer_groups SET cursor = ? WHERE id = ?", (writes.cursor, gid))

    def _dead_letter(self, tx: Tx, member: Member, delivery: _Row, cause: str) -> None:
        """Move one delivery of ``member``'s group to its dead-letter topic."""
        gid, seq, attempt, limit, dead_topic = delivery
        tx.execute(_DELETE, (gid, seq))
        topic, group = member.topic, member.group
        row = tx.fetchone("SELECT id, payload, headers FROM events WHERE seq = ?", (seq,))
        if row is None:
            return
        headers = dead_letter_headers(
            {} if row[2] is None else self.handle.decode(row[2], f"events/{seq}"),
            max_deliveries=limit,
            cause=cause,
            topic=topic,
            event_id=str(row[0]),
            group=group,
            deliveries=attempt,
        )
        tx.execute(
            _INSERT, (dead_topic, _codec.new_id(), row[1], _codec.encode_json(headers), tx.now)
        )
        tx.wake(dead_topic)

    # --- ack / nack ------------------------------------------------------------------------

    def ack(self, keys: list[_Key]) -> asyncio.Future[None]:
        """Settle deliveries (group id, seq); the future resolves once that is committed.

        One call is one transaction; the acks of one loop turn (an ``asyncio.gather`` of a
        fetch's acks, or one ``ack_many``) are one ``executemany`` in the next group commit.
        """
        return self.handle.db.writer.submit(self._ack_op, keys)

    def nack(
        self, subscription: SQLiteSubscription, seq: int, attempt: int, delay: float
    ) -> asyncio.Future[None]:
        """Give one delivery back (or dead-letter it); resolves once that is committed."""
        return self.handle.db.writer.submit(self._nack_op, (subscription, seq, attempt, delay))

    def _apply_acks(self, tx: Tx, items: list[list[_Key]]) -> list[None]:
        by_group: dict[int, list[int]] = {}
        for gid, seq in (key for keys in items for key in keys):
            by_group.setdefault(gid, []).append(seq)
        for gid, seqs in by_group.items():
            tx.execute(_SETTLE, (gid, _seqs(seqs)))
        return [None] * len(items)

    def _apply_nacks(self, tx: Tx, items: list[_Nack]) -> list[None]:
        for subscription, seq, attempt, delay in items:
            member, key = subscription.member, (subscription.gid, seq)
            row = tx.fetchone(
                "SELECT max_deliveries, dead_topic FROM deliveries WHERE gid = ? AND seq = ? "
                "AND consumer = ? AND attempt = ?",
                (*key, member.consumer, attempt),
            )
            if row is None:  # acked, dead, or redelivered elsewhere since: nothing to give back
                continue
            if attempt >= int(row[0]):
                self._dead_letter(tx, member, (*key, attempt, int(row[0]), str(row[1])), "nack")
                continue
            tx.execute(
                "UPDATE deliveries SET visible_at = ? WHERE gid = ? AND seq = ?",
                (tx.now + delay, *key),
            )
            tx.wake(member.topic)
        return [None] * len(items)

    # --- replay ----------------------------------------------------------------------------

    async def _replay(
        self, topic: str, from_offset: str | None, from_time: float | None, limit: int | None
    ) -> AsyncGenerator[Event, None]:
        remaining = limit
        start = 0 if from_offset is None else sequence_offset(from_offset)
        since = float("-inf") if from_time is None else from_time
        db = self.handle.db
        end_row = await db.read_one("SELECT max(seq) FROM events WHERE topic = ?", (topic,))
        end = int(end_row[0]) if end_row is not None and end_row[0] is not None else 0
        while remaining is None or remaining > 0:
            page = _REPLAY_PAGE if remaining is None else min(_REPLAY_PAGE, remaining)
            rows = await db.read(
                "SELECT seq, id, payload, headers, ts FROM events WHERE topic = ? AND seq >= ? "
                "AND seq <= ? AND ts >= ? ORDER BY seq LIMIT ?",
                (topic, start, end, since, page),
            )
            for row in rows:
                yield self.decode(topic, _Claimed(row[0], 1, row[1], row[2], row[3], row[4]))
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < page:
                return
            start = int(rows[-1][0]) + 1

    def decode(self, topic: str, claimed: _Claimed) -> Event:
        """Build the :class:`Event` of a stored row.

        Raises:
            CorruptDataError: The stored payload or headers are not JSON.
        """
        payload: JSONValue
        headers: dict[str, str]
        try:
            payload = _codec.parse_json(claimed.payload)
            headers = {} if claimed.headers is None else _codec.parse_json(claimed.headers)
        except ValueError:
            # The slow path builds the error that names the damaged row.
            where = f"events/{claimed.seq}"
            payload = self.handle.decode(claimed.payload, where)
            headers = self.handle.decode(claimed.headers or "{}", where)
        return new_event(claimed.id, topic, payload, headers, claimed.timestamp, str(claimed.seq))


class SQLiteDelivery(DeliveryBase["SQLiteSubscription"]):
    """One delivery of an event to one consumer (see the protocol)."""

    __slots__ = ("seq",)

    def __init__(
        self, subscription: SQLiteSubscription, seq: int, attempt: int, event: Event
    ) -> None:
        super().__init__(subscription, event, attempt)
        self.seq = seq

    async def ack(self) -> None:
        """Settle the event for the group; committed when this returns (first ack wins)."""
        subscription = self._subscription
        await subscription.bus.ack([(subscription.gid, self.seq)])

    async def _nack(self, delay: float) -> None:
        subscription = self._subscription
        await subscription.bus.nack(subscription, self.seq, self._attempt, delay)


class SQLiteSubscription(SubscriptionBase[SQLiteDelivery]):
    """One consumer of a group on the T1 file (see the protocol); ``gid``: the group's id."""

    def __init__(self, bus: SQLiteEventBus, member: Member, gid: int) -> None:
        super().__init__(member, bus.subscriptions)
        self.bus = bus
        self.gid = gid
        self._next_due: float | None = None

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        bus, topic = self.bus, self.member.topic
        db = bus.handle.db
        claim = _Claim(self.member, self.gid, max_messages)
        deadline = time.monotonic() + wait
        look = True
        while True:
            ticket = db.notifier.watch(topic)
            if look:
                claimed = await db.writer.submit(bus.claim_op, claim)
                if claimed:
                    decode = bus.decode
                    return [
                        SQLiteDelivery(self, c.seq, c.attempt, decode(topic, c)) for c in claimed
                    ]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return []
            sleep = min(remaining, bus.handle.poll_interval)
            if self._next_due is not None:
                sleep = min(sleep, max(self._next_due - time.time(), 0.0))
            look = await wait_ticket(ticket, sleep) or await self._probe()
            if self._closed:
                return []

    async def _probe(self) -> bool:
        """Whether the group has new events or due redeliveries (read-only, no lock)."""
        row = await self.bus.handle.db.read_one(
            "SELECT EXISTS (SELECT 1 FROM events WHERE topic = ? AND seq > "
            "(SELECT cursor FROM consumer_groups WHERE id = ?)), "
            "(SELECT min(visible_at) FROM deliveries WHERE gid = ?)",
            (self.topic, self.gid, self.gid),
        )
        if row is None:
            return True
        self._next_due = None if row[1] is None else float(row[1])
        return bool(row[0]) or (self._next_due is not None and self._next_due <= time.time())

    async def _ack_many(self, deliveries: list[SQLiteDelivery]) -> None:
        gid = self.gid
        await self.bus.ack([(gid, delivery.seq) for delivery in deliveries])

    async def _stop(self) -> None:
        database = self.bus.handle.database
        if database is not None:
            database.notifier.notify(self.topic)
