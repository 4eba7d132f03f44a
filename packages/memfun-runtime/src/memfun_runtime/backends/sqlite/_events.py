"""The T1 event bus: an append-only log per topic, group cursors and per-delivery state.

Tables (see ``_schema.py``): ``events`` is the log (``seq`` is a global, strictly increasing
offset); ``consumer_groups`` holds each group's cursor (the last ``seq`` handed to the group);
``deliveries`` holds every event a group received but has not settled (consumer, attempt,
when it becomes visible again, the delivering subscription's limits) — like a Redis pending
entries list. An ack deletes the delivery row; a claim first takes the group's due deliveries
(redelivery or dead letter), then advances the cursor over new events. Every claim, ack and
nack runs inside the group-commit transaction, so concurrent consumers in several processes
never receive the same delivery twice and an ack is committed when it returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TypeVar

from memfun_runtime import _codec
from memfun_runtime.backends._delivery import (
    EventBusBase,
    Member,
    dead_letter_headers,
    new_event,
    sequence_offset,
)
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._records import Claim, Claimed
from memfun_runtime.backends.sqlite._subscription import SQLiteSubscription
from memfun_runtime.backends.sqlite._writer import BatchOp, Failed, Tx
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW, Event, JSONValue

__all__ = ["SQLiteEventBus"]

_REPLAY_PAGE = 500
_EVENT_COLUMNS = "seq, id, payload, headers, ts"
# One read per claimed group: (kind, seq, attempt, max_deliveries, dead_topic, id, payload,
# headers, ts); kind 1 = a due delivery (its event joined; id NULL if no longer retained),
# kind 0 = a new event after the group's cursor.
_CLAIM = (
    "SELECT * FROM (SELECT 1, d.seq, d.attempt, d.max_deliveries, d.dead_topic, e.id, "
    "e.payload, e.headers, e.ts FROM deliveries d LEFT JOIN events e ON e.seq = d.seq "
    "WHERE d.topic = ? AND d.grp = ? AND d.visible_at <= ? ORDER BY d.seq LIMIT ?) "
    "UNION ALL "
    "SELECT * FROM (SELECT 0, seq, 0, 0, NULL, id, payload, headers, ts FROM events "
    "WHERE topic = ? AND seq > (SELECT cursor FROM consumer_groups WHERE topic = ? AND grp = ?) "
    "ORDER BY seq LIMIT ?)"
)


_Publish = tuple[str, str, str, str | None, bool]
"""A publish: topic, event id, payload and headers (JSON), whether the id was given."""
_Key = tuple[str, str, int]
"""A delivery's key: topic, group, seq (an ack)."""


_T = TypeVar("_T")


def _flat(calls: list[list[_T]]) -> list[_T]:
    return [item for call in calls for item in call]


@dataclass(slots=True)
class _ClaimWrites:
    """What one group's claims change: redeliveries, first deliveries, lost events, cursor."""

    updates: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    inserts: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    gone: list[tuple[object, ...]] = field(default_factory=list[tuple[object, ...]])
    cursor: int | None = None


@dataclass(frozen=True, slots=True)
class _Nack:
    topic: str
    group: str
    seq: int
    consumer: str
    attempt: int
    delay: float


class SQLiteEventBus(EventBusBase[SQLiteSubscription, str]):
    """:class:`~memfun_runtime.protocols.EventBus` on the T1 SQLite file (see the protocol).

    Args:
        handle: The backend's started-guard and settings.
        dedupe_window: Seconds an ``event_id`` is remembered for idempotent publish.
    """

    def __init__(self, handle: Handle, *, dedupe_window: float = DEFAULT_DEDUPE_WINDOW) -> None:
        super().__init__()
        self._handle = handle
        self._dedupe_window = _codec.check_positive(dedupe_window, field="dedupe_window")
        self.publish_op: BatchOp[list[_Publish], list[str]] = BatchOp(
            "publishing", self._apply_publish
        )
        self.claim_op: BatchOp[Claim, list[Claimed]] = BatchOp(
            "receiving events", self._apply_claims
        )
        self.ack_op: BatchOp[list[_Key], None] = BatchOp("acknowledging", self._apply_acks)
        self.nack_op: BatchOp[_Nack, None] = BatchOp("giving back", self._apply_nacks)

    # --- publish ---------------------------------------------------------------------------

    def _encode(self, payload: JSONValue, field: str) -> str:
        return _codec.encode_json(payload, field=field)

    def _publish_many(
        self, topic: str, payloads: list[str], headers: dict[str, str], event_ids: list[str | None]
    ) -> asyncio.Future[list[str]]:
        """Queue the events as ONE call: they commit in one transaction, all or none."""
        head = _codec.encode_json(headers, field="headers") if headers else None
        items = [
            (topic, event_id or _codec.new_id(), payload, head, event_id is not None)
            for payload, event_id in zip(payloads, event_ids, strict=True)
        ]
        return self._handle.db.writer.submit(self.publish_op, items)

    def _apply_publish(self, tx: Tx, calls: list[list[_Publish]]) -> list[list[str]]:
        """Store every call's events with one ``executemany``; each call gets its ids."""
        results: list[str] = []
        rows: list[tuple[str, str, str, str | None, float]] = []
        seen: set[tuple[str, str]] = set()
        now = tx.now
        for topic, event_id, payload, headers, dedupe in _flat(calls):
            if dedupe:
                if self._is_duplicate(tx, topic, event_id, seen):
                    results.append(event_id)
                    continue
                seen.add((topic, event_id))
            rows.append((topic, event_id, payload, headers, now))
            results.append(event_id)
        if rows:
            tx.executemany(
                "INSERT INTO events (topic, id, payload, headers, ts) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
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

    # --- subscribe -------------------------------------------------------------------------

    async def _join(self, member: Member) -> SQLiteSubscription:
        topic, group, newest = member.topic, member.group, member.start == "new"

        def create_group(tx: Tx) -> None:
            tx.execute(
                "INSERT INTO consumer_groups (topic, grp, cursor, created_at) VALUES "
                "(?, ?, CASE WHEN ? THEN COALESCE((SELECT max(seq) FROM events), 0) ELSE 0 END, ?)"
                " ON CONFLICT (topic, grp) DO NOTHING",
                (topic, group, newest, tx.now),
            )

        await self._handle.db.writer.transaction(create_group)
        return SQLiteSubscription(self, self._handle, member)

    # --- claims ----------------------------------------------------------------------------

    def _apply_claims(self, tx: Tx, items: list[Claim]) -> list[list[Claimed] | Failed]:
        """Serve every claim of the batch; claims on one group share one read."""
        by_group: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(items):
            by_group.setdefault((item.member.topic, item.member.group), []).append(index)
        results: list[list[Claimed] | Failed] = [[] for _ in items]
        for (topic, group), indexes in by_group.items():
            served = self._claim_group(tx, topic, group, [items[i] for i in indexes])
            for index, claimed in zip(indexes, served, strict=True):
                results[index] = claimed
        return results

    def _claim_group(
        self, tx: Tx, topic: str, group: str, claims: list[Claim]
    ) -> list[list[Claimed]]:
        """Hand due redeliveries first, then new events, to ``claims`` in order."""
        total = sum(claim.limit for claim in claims)
        rows = tx.fetchall(_CLAIM, (topic, group, tx.now, total, topic, topic, group, total))
        due = sorted((row for row in rows if row[0] == 1), key=lambda row: int(row[1]))
        new = sorted((row for row in rows if row[0] == 0), key=lambda row: int(row[1]))
        live: list[sqlite3.Row] = []
        for row in due:
            seq, attempt, limit, dead_topic = int(row[1]), int(row[2]), int(row[3]), str(row[4])
            if attempt >= limit:
                self._dead_letter(tx, topic, group, seq, attempt, limit, dead_topic, "ack timeout")
            else:
                live.append(row)
        pool = live + new
        out: list[list[Claimed]] = [[] for _ in claims]
        writes = _ClaimWrites()
        position = 0
        for served, claim in zip(out, claims, strict=True):
            member = claim.member
            # What a delivery row records of its consumer: who, until when, with which limits.
            holder = (member.consumer, tx.now + member.ack_timeout)
            limits = (member.max_deliveries, member.dead_letter_topic)
            while len(served) < claim.limit and position < len(pool):
                row = pool[position]
                position += 1
                seq = int(row[1])
                if row[0] == 0:
                    attempt = 1
                    writes.cursor = seq
                    writes.inserts.append((topic, group, seq, *holder, *limits))
                elif row[5] is None:  # the event is no longer retained
                    writes.gone.append((topic, group, seq))
                    continue
                else:
                    attempt = int(row[2]) + 1
                    writes.updates.append(
                        (holder[0], attempt, holder[1], *limits, topic, group, seq)
                    )
                served.append(Claimed(seq, attempt, row[5], row[6], row[7], row[8]))
        self._record_claims(tx, topic, group, writes)
        return out

    def _record_claims(self, tx: Tx, topic: str, group: str, writes: _ClaimWrites) -> None:
        updates, inserts, gone, cursor = writes.updates, writes.inserts, writes.gone, writes.cursor
        if updates:
            tx.executemany(
                "UPDATE deliveries SET consumer = ?, attempt = ?, visible_at = ?, "
                "max_deliveries = ?, dead_topic = ? WHERE topic = ? AND grp = ? AND seq = ?",
                updates,
            )
        if gone:
            tx.executemany("DELETE FROM deliveries WHERE topic = ? AND grp = ? AND seq = ?", gone)
        if inserts:
            tx.executemany(
                "INSERT INTO deliveries (topic, grp, seq, consumer, attempt, visible_at, "
                "max_deliveries, dead_topic) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                inserts,
            )
        if cursor is not None:
            tx.execute(
                "UPDATE consumer_groups SET cursor = ? WHERE topic = ? AND grp = ?",
                (cursor, topic, group),
            )

    def _dead_letter(  # noqa: PLR0917 - one delivery row's fields
        self,
        tx: Tx,
        topic: str,
        group: str,
        seq: int,
        attempt: int,
        limit: int,
        dead_topic: str,
        cause: str,
    ) -> None:
        tx.execute(
            "DELETE FROM deliveries WHERE topic = ? AND grp = ? AND seq = ?", (topic, group, seq)
        )
        row = tx.fetchone("SELECT id, payload, headers FROM events WHERE seq = ?", (seq,))
        if row is None:
            return
        original: dict[str, str] = (
            {}
            if row[2] is None
            else _codec.decode_json(
                row[2], backend=BACKEND, location=self._handle.location(f"events/{seq}")
            )
        )
        headers = dead_letter_headers(
            original,
            max_deliveries=limit,
            cause=cause,
            topic=topic,
            event_id=str(row[0]),
            group=group,
            deliveries=attempt,
        )
        tx.execute(
            "INSERT INTO events (topic, id, payload, headers, ts) VALUES (?, ?, ?, ?, ?)",
            (dead_topic, _codec.new_id(), row[1], _codec.encode_json(headers), tx.now),
        )
        tx.wake(dead_topic)

    # --- ack / nack ------------------------------------------------------------------------

    def ack(self, keys: list[_Key]) -> asyncio.Future[None]:
        """Settle deliveries (topic, group, seq); the future resolves once that is committed.

        One call is one transaction; the acks of one loop turn (an ``asyncio.gather`` of a
        fetch's acks, or one ``ack_many``) are one ``executemany`` in the next group commit.
        """
        return self._handle.db.writer.submit(self.ack_op, keys)

    def nack(self, member: Member, seq: int, attempt: int, delay: float) -> asyncio.Future[None]:
        """Give one delivery back (or dead-letter it); resolves once that is committed."""
        item = _Nack(member.topic, member.group, seq, member.consumer, attempt, delay)
        return self._handle.db.writer.submit(self.nack_op, item)

    def _apply_acks(self, tx: Tx, items: list[list[_Key]]) -> list[None]:
        keys = _flat(items)
        tx.executemany("DELETE FROM deliveries WHERE topic = ? AND grp = ? AND seq = ?", keys)
        return [None] * len(items)

    def _apply_nacks(self, tx: Tx, items: list[_Nack]) -> list[None]:
        for item in items:
            self._nack(tx, item)
        return [None] * len(items)

    def _nack(self, tx: Tx, item: _Nack) -> None:
        row = tx.fetchone(
            "SELECT max_deliveries, dead_topic FROM deliveries WHERE topic = ? AND grp = ? "
            "AND seq = ? AND consumer = ? AND attempt = ?",
            (item.topic, item.group, item.seq, item.consumer, item.attempt),
        )
        if row is None:  # acked, dead, or redelivered elsewhere since: nothing to give back
            return
        limit, dead_topic = int(row[0]), str(row[1])
        if item.attempt >= limit:
            self._dead_letter(
                tx, item.topic, item.group, item.seq, item.attempt, limit, dead_topic, "nack"
            )
            return
        tx.execute(
            "UPDATE deliveries SET visible_at = ? WHERE topic = ? AND grp = ? AND seq = ?",
            (tx.now + item.delay, item.topic, item.group, item.seq),
        )
        tx.wake(item.topic)

    # --- replay ----------------------------------------------------------------------------

    async def _replay(
        self, topic: str, from_offset: str | None, from_time: float | None, limit: int | None
    ) -> AsyncGenerator[Event, None]:
        remaining = limit
        start = 0 if from_offset is None else sequence_offset(from_offset)
        since = float("-inf") if from_time is None else from_time
        db = self._handle.db
        end_row = await db.read_one("SELECT max(seq) FROM events WHERE topic = ?", (topic,))
        end = int(end_row[0]) if end_row is not None and end_row[0] is not None else 0
        while remaining is None or remaining > 0:
            page = _REPLAY_PAGE if remaining is None else min(_REPLAY_PAGE, remaining)
            rows = await db.read(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE topic = ? AND seq >= ? "  # noqa: S608 - fixed column list
                "AND seq <= ? AND ts >= ? ORDER BY seq LIMIT ?",
                (topic, start, end, since, page),
            )
            for row in rows:
                yield self.decode(topic, Claimed(row[0], 1, row[1], row[2], row[3], row[4]))
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < page:
                return
            start = int(rows[-1][0]) + 1

    def decode(self, topic: str, claimed: Claimed) -> Event:
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
            location = self._handle.location(f"events/{claimed.seq}")
            payload = _codec.decode_json(claimed.payload, backend=BACKEND, location=location)
            headers = _codec.decode_json(
                claimed.headers or "{}", backend=BACKEND, location=location
            )
        return new_event(claimed.id, topic, payload, headers, claimed.timestamp, str(claimed.seq))
