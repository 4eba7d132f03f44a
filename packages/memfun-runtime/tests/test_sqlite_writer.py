"""The T1 group-commit loop: one transaction per batch of calls, each caller its own result."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memfun_core.errors import ConflictError, InternalError, ValidationError
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.backends.sqlite._writer import BatchOp, Failed, Tx


async def test_a_fetchs_gathered_acks_are_one_transaction(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db", maintenance_interval=3600)
    await backend.start()
    sub = await backend.events.subscribe("t", "g", ack_timeout=0.2)
    await asyncio.gather(*(backend.events.publish("t", {"n": n}) for n in range(50)))
    got = await sub.fetch(50, timeout=5)
    assert len(got) == 50
    before = backend.write_stats
    await asyncio.gather(*(delivery.ack() for delivery in got))
    after = backend.write_stats
    assert (after.transactions - before.transactions, after.operations - before.operations) == (
        1,
        50,
    )
    await asyncio.sleep(0.3)  # past the ack timeout: an unsettled delivery would come back
    assert await sub.fetch(50, timeout=0.2) == []
    await sub.close()
    await backend.stop()


async def test_each_caller_gets_its_own_result_or_error(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db", maintenance_interval=3600)
    await backend.start()

    def apply(tx: Tx, items: list[int]) -> list[int | Failed]:
        rows = [(f"item-{n}", str(n)) for n in items if n >= 0]
        tx.executemany("INSERT INTO memfun_meta (key, value) VALUES (?, ?)", rows)
        refused = Failed(ValidationError("is negative", field="n", rule=">= 0"))
        return [n * 10 if n >= 0 else refused for n in items]

    op: BatchOp[int, int] = BatchOp("testing", apply)
    writer = backend._handle.db.writer  # pyright: ignore[reportPrivateUsage]
    results = await asyncio.gather(
        *(writer.submit(op, n) for n in (1, -1, 2)), return_exceptions=True
    )
    assert results[0] == 10
    assert isinstance(results[1], ValidationError)
    assert results[2] == 20
    row = await backend._handle.db.read_one(  # pyright: ignore[reportPrivateUsage]
        "SELECT group_concat(value) FROM memfun_meta WHERE key LIKE 'item-%'"
    )
    assert row is not None
    assert sorted(str(row[0]).split(",")) == ["1", "2"]
    await backend.stop()


async def test_a_handler_that_loses_results_commits_nothing(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db", maintenance_interval=3600)
    await backend.start()

    def apply(tx: Tx, items: list[str]) -> list[Failed | None]:
        rows = [(key,) for key in items]
        tx.executemany("INSERT INTO memfun_meta (key, value) VALUES (?, 'x')", rows)
        return [None]  # one result for several calls: a bug

    op: BatchOp[str, None] = BatchOp("losing results", apply)
    writer = backend._handle.db.writer  # pyright: ignore[reportPrivateUsage]
    results = await asyncio.gather(
        writer.submit(op, "lost-a"), writer.submit(op, "lost-b"), return_exceptions=True
    )
    assert all(isinstance(result, InternalError) for result in results), results
    row = await backend._handle.db.read_one(  # pyright: ignore[reportPrivateUsage]
        "SELECT count(*) FROM memfun_meta WHERE key LIKE 'lost-%'"
    )
    assert row is not None
    assert row[0] == 0
    await backend.stop()


async def test_a_stopped_writer_refuses_at_once(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "runtime.db")
    await backend.start()
    writer = backend._handle.db.writer  # pyright: ignore[reportPrivateUsage]
    await backend.stop()
    op: BatchOp[int, int] = BatchOp("after stop", lambda tx, items: list(items))
    with pytest.raises(ConflictError, match="not started"):
        writer.submit(op, 1)
