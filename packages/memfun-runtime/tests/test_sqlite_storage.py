"""The T1 storage layer: file set-up, schema, group commit, several backends on one file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime.backends.sqlite import SCHEMA_VERSION, SQLiteBackend
from memfun_runtime.protocols import Delivery
from memfun_runtime.testing import collect


def vm_steps(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> tuple[int, list[Any]]:
    """Run ``sql`` and return about how many SQLite VM instructions it took, and its rows.

    Counts work, not time: a statement that walks a whole table shows it on any machine.
    """
    ticks = 0

    def tick() -> int:
        nonlocal ticks
        ticks += 1
        return 0  # go on

    conn.set_progress_handler(tick, 100)  # called every 100 VM instructions
    try:
        rows = conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 0)
    return ticks * 100, rows


async def test_a_new_file_gets_wal_mode_and_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    await backend.state.set("k", 1)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        version = conn.execute(
            "SELECT value FROM memfun_meta WHERE key = 'schema_version'"
        ).fetchone()
        assert version == (str(SCHEMA_VERSION),)
        assert conn.execute("PRAGMA application_id").fetchone() == (0x4D454D46,)
    conn.close()
    await backend.stop()


async def test_reopening_keeps_data_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    first = SQLiteBackend(path)
    await first.start()
    await first.state.set("counter", 41)
    await first.stop()
    second = SQLiteBackend(path, synchronous="full")
    await second.start()
    assert await second.state.increment("counter") == 42
    await second.stop()


async def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db")
    await backend.start()
    before = backend.write_stats
    await asyncio.gather(*(backend.events.publish("t", {"n": n}) for n in range(500)))
    after = backend.write_stats
    assert after.operations - before.operations >= 500  # plus a maintenance job, maybe
    assert after.transactions - before.transactions < 100, "publishes were group-committed"
    events = [event async for event in backend.events.replay("t")]
    assert [e.payload["n"] for e in events] == list(range(500))
    await backend.stop()


async def test_a_group_commit_is_one_hand_off_to_the_database_thread(tmp_path: Path) -> None:
    """BEGIN, every statement of every call in the batch and COMMIT cross threads once."""
    backend = SQLiteBackend(tmp_path / "runtime.db", maintenance_interval=3600)
    await backend.start()
    sub = await backend.events.subscribe("t", "g")
    conn: Any = backend._handle.db._writer_conn  # pyright: ignore[reportPrivateUsage]
    original = conn._execute
    hand_offs = 0

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hand_offs
        hand_offs += 1
        return await original(fn, *args, **kwargs)

    conn._execute = counted
    try:
        before = backend.write_stats
        await asyncio.gather(*(backend.events.publish("t", {"n": n}) for n in range(300)))
        await asyncio.gather(*(backend.state.set(f"k{n}", n) for n in range(50)))
        deliveries = await collect(sub, 300)
        assert len(deliveries) == 300
        await asyncio.gather(*(d.ack() for d in deliveries))
        after = backend.write_stats
    finally:
        conn._execute = original
    transactions = after.transactions - before.transactions
    assert after.operations - before.operations >= 650
    assert hand_offs == transactions, (hand_offs, transactions)
    await sub.close()
    await backend.stop()


async def test_a_failing_call_does_not_undo_its_batch(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db")
    await backend.start()
    version = await backend.state.set("guarded", "v1")
    results = await asyncio.gather(
        backend.state.set("a", 1),
        backend.state.compare_and_set("guarded", "lost", expected_version=version + 1000),
        backend.events.publish("t", "x"),
        backend.state.set("b", 2),
        return_exceptions=True,
    )
    assert isinstance(results[1], ConflictError)
    assert not any(isinstance(r, BaseException) for i, r in enumerate(results) if i != 1)
    a, b, guarded = [await backend.state.get(k) for k in ("a", "b", "guarded")]
    assert a is not None
    assert a.value == 1
    assert b is not None
    assert b.value == 2
    assert guarded is not None
    assert guarded.value == "v1"
    await backend.stop()


async def test_two_backends_on_one_file_compete_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    left, right = SQLiteBackend(path, poll_interval=0.01), SQLiteBackend(path, poll_interval=0.01)
    await left.start()
    await right.start()
    subs = [
        await left.events.subscribe("jobs", "g", consumer="left", start="earliest"),
        await right.events.subscribe("jobs", "g", consumer="right", start="earliest"),
    ]
    await asyncio.gather(*(left.events.publish("jobs", {"n": n}) for n in range(400)))
    # Each backend holds a first batch unacked: the batches must be disjoint.
    held = [await subs[0].fetch(25, timeout=5), await subs[1].fetch(25, timeout=5)]
    first = [{d.event.payload["n"] for d in batch} for batch in held]
    assert len(first[0]) == len(first[1]) == 25
    assert not first[0] & first[1]
    await asyncio.gather(*(d.ack() for batch in held for d in batch))

    async def drain(sub_index: int) -> list[Delivery]:
        got: list[Delivery] = []
        while True:
            batch = await subs[sub_index].fetch(25, timeout=0.5)
            if not batch:
                return got
            await asyncio.gather(*(d.ack() for d in batch))
            got.extend(batch)

    results = await asyncio.gather(drain(0), drain(1))
    seen = [n for batch in first for n in batch]
    for deliveries in results:
        seen.extend(d.event.payload["n"] for d in deliveries)
    assert sorted(seen) == list(range(400)), "each event delivered exactly once"
    await left.stop()
    await right.stop()


async def test_a_publish_in_another_backend_wakes_a_waiting_fetch(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    producer, consumer = SQLiteBackend(path), SQLiteBackend(path, poll_interval=0.01)
    await producer.start()
    await consumer.start()
    sub = await consumer.events.subscribe("wake", "g")
    waiting = asyncio.create_task(collect(sub, 1, within=5))
    await asyncio.sleep(0.05)
    await producer.events.publish("wake", "hello")
    deliveries = await waiting
    assert [d.event.payload for d in deliveries] == ["hello"]
    await producer.stop()
    await consumer.stop()


async def test_queued_writes_commit_before_stop_returns(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    pending = [asyncio.create_task(backend.events.publish("t", n)) for n in range(50)]
    await asyncio.sleep(0)
    await backend.stop()
    assert [task.result() for task in pending]
    reopened = SQLiteBackend(path)
    await reopened.start()
    assert len([e async for e in reopened.events.replay("t")]) == 50
    await reopened.stop()


async def test_maintenance_reclaims_expired_rows(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    await backend.state.set("short", 1, ttl=0.01)
    await backend.state.set("long", 2)
    for name, ttl in (("brief", 0.01), ("kept", 3600.0)):
        await backend.sessions.create(session_id=name, ttl=ttl)
        await backend.sessions.append(name, "user", "hello")
        await backend.agents.register(name, capabilities=["x"], instance_id=name, ttl=ttl)
    await asyncio.sleep(0.05)
    await backend.maintain()
    with sqlite3.connect(path) as conn:
        left = {
            table: sorted(row[0] for row in conn.execute(f"SELECT {column} FROM {table}"))
            for table, column in (
                ("kv", "key"),
                ("sessions", "id"),
                ("session_turns", "session_id"),
                ("agents", "instance_id"),
                ("agent_capabilities", "instance_id"),
            )
        }
    conn.close()
    assert left == {
        "kv": ["long"],
        "sessions": ["kept"],
        "session_turns": ["kept"],
        "agents": ["kept"],
        "agent_capabilities": ["kept"],
    }
    await backend.stop()


async def test_the_clean_up_and_re_registration_find_rows_by_index(tmp_path: Path) -> None:
    """No statement run per clean-up or per registration reads a whole table."""
    from memfun_runtime.backends.sqlite._backend import EXPIRED_ROWS, FINISHED_TASKS
    from memfun_runtime.backends.sqlite._registry import DROP_CAPABILITIES

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    await backend.stop()
    with sqlite3.connect(path) as conn:
        for statement in (*EXPIRED_ROWS, FINISHED_TASKS, DROP_CAPABILITIES):
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", (0.0,))]
            assert not [step for step in plan if step.startswith("SCAN")], (statement, plan)
    conn.close()


async def test_queue_statistics_read_only_the_open_tasks(tmp_path: Path) -> None:
    """The metrics scrape's count skips the finished tasks that retention keeps."""
    import time

    from memfun_runtime.metrics import QueueStats, read_stats
    from memfun_runtime.metrics._stats import OPEN_TASKS

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path, maintenance_interval=3600)
    await backend.start()
    for queue in ("a", "b", "c"):
        await backend.tasks.enqueue(queue, 1)
    await backend.tasks.enqueue("b", 2)
    assert await backend.tasks.lease("b", visibility_timeout=3600) is not None
    for n in range(5000):
        await backend.tasks.enqueue("done", n)
    await backend.stop()
    with sqlite3.connect(path) as conn:  # finished long ago, inside the retention period
        conn.execute("UPDATE tasks SET status = 'completed', finished_at = 1 WHERE queue = 'done'")
        conn.execute("UPDATE tasks SET status = 'completed', finished_at = 1 WHERE queue = 'c'")
        steps, rows = vm_steps(conn, OPEN_TASKS, (time.time(),))
    conn.close()
    assert rows == [("a", 1, 0), ("b", 1, 1), ("c", 0, 0), ("done", 0, 0)]
    assert steps < 1000, f"{steps} VM instructions to count 3 open tasks beside 5,001 finished"
    await backend.start()
    stats = await read_stats(backend)
    assert stats.queues == (QueueStats("a", 1, 0), QueueStats("b", 1, 1))
    await backend.stop()


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="busy_timeout"):
        SQLiteBackend(tmp_path / "x.db", busy_timeout=0)
    with pytest.raises(ValidationError, match="poll_interval"):
        SQLiteBackend(tmp_path / "x.db", poll_interval=-1)


def test_a_bad_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="synchronous"):
        SQLiteBackend(tmp_path / "x.db", synchronous="sometimes")  # type: ignore[arg-type]


async def test_services_refuse_work_when_stopped(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "x.db")
    with pytest.raises(ConflictError, match="not started"):
        await backend.events.publish("t", 1)
    await backend.start()
    await backend.stop()
    with pytest.raises(ConflictError, match="not started"):
        await backend.state.get("k")
    assert not (await backend.health()).ok


async def test_workers_of_two_backends_never_share_a_task(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    left, right = SQLiteBackend(path, poll_interval=0.01), SQLiteBackend(path, poll_interval=0.01)
    await left.start()
    await right.start()
    await asyncio.gather(*(left.tasks.enqueue("work", {"n": n}) for n in range(120)))
    leased: list[int] = []

    async def worker(backend: SQLiteBackend) -> None:
        while (lease := await backend.tasks.lease("work", visibility_timeout=30)) is not None:
            leased.append(lease.payload["n"])
            await backend.tasks.complete(lease)

    await asyncio.gather(worker(left), worker(left), worker(right), worker(right))
    assert sorted(leased) == list(range(120)), "each task leased exactly once"
    await left.stop()
    await right.stop()


async def test_compare_and_set_across_two_backends_has_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    left, right = SQLiteBackend(path), SQLiteBackend(path)
    await left.start()
    await right.start()
    version = await left.state.set("leader", "nobody")
    attempts = [
        backend.state.compare_and_set("leader", f"{name}-{k}", expected_version=version)
        for k in range(10)
        for name, backend in (("left", left), ("right", right))
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, int))
    entry = await right.state.get("leader")
    assert entry is not None
    assert entry.version == winners[0]
    await left.stop()
    await right.stop()


async def test_an_older_schema_is_migrated_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memfun_runtime.backends.sqlite import _schema

    path = tmp_path / "runtime.db"
    old = SQLiteBackend(path)
    await old.start()
    await old.state.set("kept", "yes")
    await old.stop()

    # Pretend a later release added version SCHEMA_VERSION + 1 with one new table.
    newer = SCHEMA_VERSION + 1
    migrations = {**_schema.MIGRATIONS, newer: ("CREATE TABLE future_things (x INTEGER)",)}
    monkeypatch.setattr(_schema, "SCHEMA_VERSION", newer)
    monkeypatch.setattr(_schema, "MIGRATIONS", migrations)
    upgraded = SQLiteBackend(path)
    await upgraded.start()
    entry = await upgraded.state.get("kept")
    assert entry is not None
    assert entry.value == "yes"
    await upgraded.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM memfun_meta").fetchone() == (str(newer),)
        assert conn.execute("SELECT count(*) FROM future_things").fetchone() == (0,)
    conn.close()


async def test_a_version_1_file_keeps_its_groups_and_pending_deliveries(tmp_path: Path) -> None:
    """Version 2 keys deliveries by an integer group id; nothing in flight is lost on the way."""
    from memfun_runtime.backends.sqlite import _schema

    path = tmp_path / "runtime.db"
    with sqlite3.connect(path) as conn:
        for statement in _schema.MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO memfun_meta VALUES ('schema_version', '1')")
        conn.execute(f"PRAGMA application_id = {_schema.APPLICATION_ID}")
        conn.executemany(
            "INSERT INTO events (topic, id, payload, headers, ts) VALUES ('orders', ?, ?, NULL, 1)",
            [(f"e{n}", f'{{"n": {n}}}') for n in range(1, 6)],
        )
        conn.executemany(
            "INSERT INTO consumer_groups VALUES ('orders', ?, ?, 0)", [("billing", 3), ("audit", 0)]
        )
        # billing: seq 2 handed out and overdue, seq 3 held until far in the future
        conn.executemany(
            "INSERT INTO deliveries VALUES ('orders', 'billing', ?, 'c1', 1, ?, 5, 'orders.dead')",
            [(2, 0.0), (3, 4e9)],
        )
    conn.close()

    backend = SQLiteBackend(path)
    await backend.start()
    billing = await backend.events.subscribe("orders", "billing", consumer="c2")
    got = await billing.fetch(10, timeout=5)
    assert [(d.event.payload["n"], d.attempt) for d in got] == [(2, 2), (4, 1), (5, 1)]
    await billing.ack_many(got)
    audit = await backend.events.subscribe("orders", "audit", consumer="a1")
    assert [d.event.payload["n"] for d in await audit.fetch(10, timeout=5)] == [1, 2, 3, 4, 5]
    await backend.events.publish("orders", {"n": 6})  # the rebuilt log goes on from seq 5
    assert [int(e.offset) async for e in backend.events.replay("orders")] == [1, 2, 3, 4, 5, 6]
    await backend.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM memfun_meta").fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute(
            "SELECT g.grp, d.seq, d.consumer FROM deliveries d JOIN consumer_groups g "
            "ON g.id = d.gid ORDER BY g.grp, d.seq"
        ).fetchall() == [("audit", n, "a1") for n in range(1, 6)] + [("billing", 3, "c1")]
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "events_by_time" not in indexes
        (table,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        assert "AUTOINCREMENT" not in table
    conn.close()


async def test_a_claim_does_not_walk_the_deliveries_still_held(tmp_path: Path) -> None:
    """Due redeliveries are found through the due index: work per claim does not grow with
    the number of deliveries other consumers hold (SQLite's own plan walked all of them)."""
    from memfun_runtime.backends.sqlite._events import _CLAIM

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    holder = await backend.events.subscribe("t", "g", consumer="holder", ack_timeout=3600)
    await backend.events.publish_many("t", [{"n": n} for n in range(5000)])
    held = 0
    while held < 5000:
        held += len(await holder.fetch(1000, timeout=5))
    await backend.stop()

    with sqlite3.connect(path) as conn:
        (gid,) = conn.execute("SELECT id FROM consumer_groups").fetchone()
        steps, rows = vm_steps(conn, _CLAIM, (gid, 0.0, 100, "t", gid, 100))
    conn.close()
    assert rows == []  # nothing due, nothing new
    assert steps < 1000, f"{steps} VM instructions for a claim with 5,000 held"


async def test_a_lock_held_too_long_by_another_process_is_a_timeout(tmp_path: Path) -> None:
    from memfun_core.errors import OperationTimeout

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path, busy_timeout=0.2)
    await backend.start()
    await backend.maintain()  # nothing else left to write behind our back
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationTimeout, match="write lock"):
            await backend.events.publish("t", "blocked")
    finally:
        other.execute("ROLLBACK")
        other.close()
    await backend.events.publish("t", "through")
    assert [e.payload async for e in backend.events.replay("t")] == ["through"]
    await backend.stop()


async def test_event_retention_prunes_the_log_and_its_deliveries(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db", event_retention=0.05)
    await backend.start()
    sub = await backend.events.subscribe("old", "g", ack_timeout=0.05)
    await backend.events.publish("old", 1)
    taken = await sub.fetch(1, timeout=1)
    assert [d.event.payload for d in taken] == [1]
    await asyncio.sleep(0.1)
    await backend.events.publish("other", "newer")  # the log's newest event always stays
    await backend.maintain()
    assert [e async for e in backend.events.replay("old")] == []
    assert await sub.fetch(1, timeout=0.1) == [], "a pruned event is not redelivered"
    await backend.events.publish("old", 2)
    assert [d.event.payload for d in await sub.fetch(5, timeout=1)] == [2]
    await backend.stop()


async def test_retention_walks_only_the_head_of_the_log(tmp_path: Path) -> None:
    """Pruning reads what it deletes, not the whole log; events leave in log order."""
    import time

    from memfun_runtime.backends.sqlite._events import PRUNE_EVENTS

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    await backend.events.publish_many("t", list(range(5000)))
    await backend.stop()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET ts = 0 WHERE seq <= 3 OR seq = 10")  # 10: a clock behind
        steps, _ = vm_steps(conn, PRUNE_EVENTS, (time.time() - 3600,))
        seqs = [row[0] for row in conn.execute("SELECT seq FROM events ORDER BY seq")]
    conn.close()
    assert seqs[:8] == [4, 5, 6, 7, 8, 9, 10, 11]  # 10 leaves once 4-9 have gone
    assert len(seqs) == 4997
    assert steps < 1000, f"{steps} VM instructions to prune 3 of 5,000 events"


async def test_retention_keeps_the_newest_event_so_offsets_never_repeat(tmp_path: Path) -> None:
    """A group that has read everything still gets the next event after the log is pruned
    (were the log emptied, the next event would reuse an offset behind its cursor)."""
    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path, event_retention=0.05)
    await backend.start()
    seen = await backend.events.subscribe("t", "seen")
    await backend.events.publish_many("t", [1, 2, 3])
    await seen.ack_many(await collect(seen, 3))
    await asyncio.sleep(0.1)
    await backend.maintain()
    assert [e.payload async for e in backend.events.replay("t")] == [3]
    await backend.stop()
    again = SQLiteBackend(path)  # a new process: nothing kept in memory
    await again.start()
    await again.events.publish("t", 4)
    seen = await again.events.subscribe("t", "seen")
    assert [d.event.payload for d in await seen.fetch(10, timeout=1)] == [4]
    assert [int(e.offset) async for e in again.events.replay("t")] == [3, 4]
    await again.stop()


async def test_the_clean_up_of_publish_ids_reads_only_the_expired(tmp_path: Path) -> None:
    """The statement ``SQLiteBackend.maintain`` runs finds expired ids through an index."""
    import time

    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path, dedupe_window=3600, maintenance_interval=3600)
    await backend.start()
    ids = [f"e{n}" for n in range(5000)]
    await backend.events.publish_many("t", list(range(5000)), event_ids=ids)
    await backend.stop()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE event_ids SET expires_at = 0 WHERE id IN ('e1', 'e2')")
        steps, _ = vm_steps(conn, "DELETE FROM event_ids WHERE expires_at <= ?", (time.time(),))
        left = conn.execute("SELECT count(*) FROM event_ids").fetchone()[0]
    conn.close()
    assert left == 4998
    assert steps < 1000, f"{steps} VM instructions to drop 2 of 5,000 ids"


async def test_claims_and_acks_of_several_groups_in_one_transaction(tmp_path: Path) -> None:
    """One group commit writes each claim's deliveries and each group's acks as one statement."""
    path = tmp_path / "runtime.db"
    backend = SQLiteBackend(path)
    await backend.start()
    events = backend.events
    subs = [
        await events.subscribe("t", "g", consumer="c1"),
        await events.subscribe("t", "g", consumer="c2"),
        await events.subscribe("t", "h", consumer="c1"),
    ]
    await events.publish_many("t", list(range(6)))
    before = backend.write_stats.transactions
    batches = await asyncio.gather(*(sub.fetch(3, timeout=5) for sub in subs))
    assert backend.write_stats.transactions - before == 1  # the three claims shared one
    assert [[d.event.payload for d in b] for b in batches] == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]
    with sqlite3.connect(path) as conn:
        held = conn.execute(
            "SELECT g.grp, d.consumer, d.seq FROM deliveries d JOIN consumer_groups g "
            "ON g.id = d.gid ORDER BY g.grp, d.seq"
        ).fetchall()
    conn.close()
    expected = [("g", "c1", n) for n in (1, 2, 3)] + [("g", "c2", n) for n in (4, 5, 6)]
    assert held == [*expected, *[("h", "c1", n) for n in (1, 2, 3)]]
    before = backend.write_stats.transactions
    await asyncio.gather(*(sub.ack_many(b) for sub, b in zip(subs, batches, strict=True)))
    assert backend.write_stats.transactions - before == 1
    with sqlite3.connect(path) as conn:
        left = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    conn.close()
    assert left == 0
    await backend.stop()
