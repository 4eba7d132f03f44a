"""Group commit: every write of one backend goes through one transaction loop.

Callers submit small operations; the loop takes everything queued, runs it in ONE
``BEGIN IMMEDIATE`` transaction, commits, and only then resolves the callers' futures. So a
returned call is always committed (an ack promises exactly what a lone transaction would),
while concurrent callers share the transaction's fixed costs (lock, commit, WAL write, and
under ``synchronous=FULL`` the fsync).

Operations of the same kind are applied together by one handler (a publish batch becomes one
``executemany``). Generic jobs run in a ``SAVEPOINT`` each, so a job that raises (a lost
compare-and-set) rolls back alone and the rest of the batch commits.

The whole batch (``BEGIN``, every handler, ``COMMIT``) is ONE plain function run on the
connection's thread: one hand-off between the event loop and that thread per transaction,
not one per statement (a hand-off costs tens of microseconds, a statement about one).
Handlers are therefore synchronous and must not touch the event loop; what must happen on
it (waking waiters) is registered with :meth:`Tx.after_commit` / :meth:`Tx.wake` and runs
there once the batch has committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import aiosqlite

from memfun_core.errors import InternalError, MemfunError
from memfun_runtime.backends._services import not_started
from memfun_runtime.backends.sqlite._errors import map_sqlite_error
from memfun_runtime.backends.sqlite._notify import Notifier

__all__ = ["BatchOp", "Failed", "Tx", "WriteStats", "Writer", "run_on_thread"]

A = TypeVar("A")
R = TypeVar("R")

Params = Sequence[Any]


class Tx:
    """The open write transaction a handler works in (valid only during the handler call).

    Handlers run on the database thread: every method here is a direct ``sqlite3`` call.

    Attributes:
        now: Unix time taken when the transaction began; use it for every timestamp written
            in the transaction so one batch is consistent.
    """

    __slots__ = ("_after", "_conn", "_notifier", "now")

    def __init__(self, conn: sqlite3.Connection, now: float, notifier: Notifier) -> None:
        self._conn = conn
        self._after: list[Callable[[], None]] = []
        self._notifier = notifier
        self.now = now

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement and return the number of rows it changed."""
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement for every parameter row and return the rows changed in total."""
        return self._conn.executemany(sql, rows).rowcount

    def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run a query (or a statement with ``RETURNING``) and return every row."""
        return self._conn.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run a query and return its first row, or ``None``."""
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the event loop once the transaction has committed.

        Never if it rolls back.
        """
        self._after.append(callback)

    def wake(self, key: str) -> None:
        """Wake the local waiters of ``key`` once the transaction has committed."""
        self._after.append(lambda: self._notifier.notify(key))


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What the group-commit loop has done since the backend started.

    Attributes:
        transactions: Transactions committed.
        operations: Calls (publish, ack, set, ...) committed in them.
    """

    transactions: int
    operations: int


@dataclass(frozen=True, slots=True)
class Failed:
    """A handler's result for an item that failed on its own (the batch still commits)."""

    error: BaseException


@dataclass(eq=False, slots=True)
class BatchOp(Generic[A, R]):
    """A kind of write whose queued items are applied together.

    ``apply`` receives every queued item of this kind, in submission order, and returns one
    result per item (a :class:`Failed` for an item that must raise). It must not raise for a
    single item's sake: an exception from ``apply`` fails the whole batch. It runs on the
    database thread (see the module docstring).
    """

    name: str
    apply: Callable[[Tx, list[A]], Sequence[R | Failed]]


_Batch = dict[BatchOp[Any, Any], tuple[list[Any], list["asyncio.Future[Any]"]]]
"""One transaction's calls: for each kind of write, its items and their callers' futures."""


def _apply_jobs(tx: Tx, jobs: list[Callable[[Tx], Any]]) -> list[Any]:
    """Run generic jobs, each in its own savepoint."""
    results: list[Any] = []
    for job in jobs:
        marker = len(tx._after)  # pyright: ignore[reportPrivateUsage]
        tx.execute("SAVEPOINT job")
        try:
            result = job(tx)
        except (MemfunError, sqlite3.IntegrityError, ValueError, TypeError, KeyError) as exc:
            tx.execute("ROLLBACK TO job")
            tx.execute("RELEASE job")
            del tx._after[marker:]  # pyright: ignore[reportPrivateUsage]
            results.append(Failed(exc))
            continue
        tx.execute("RELEASE job")
        results.append(result)
    return results


_GENERIC: BatchOp[Callable[[Tx], Any], Any] = BatchOp("transaction", _apply_jobs)


def _commit(
    conn: sqlite3.Connection, batch: _Batch, notifier: Notifier
) -> tuple[list[Sequence[Any]], list[Callable[[], None]]]:
    """Run one batch on the database thread: BEGIN, every handler and COMMIT, one hand-off.

    Returns:
        The results of each kind of write (in the batch's order) and the after-commit calls.
    """
    tx = Tx(conn, 0.0, notifier)
    try:
        conn.execute("BEGIN IMMEDIATE")
        tx.now = time.time()
        results: list[Sequence[Any]] = []
        for op, (items, _) in batch.items():
            outcomes = op.apply(tx, items)
            if len(outcomes) != len(items):
                raise InternalError(
                    f"the {op.name!r} handler returned {len(outcomes)} results for "
                    f"{len(items)} calls (nothing of the batch was committed)"
                )
            results.append(outcomes)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return results, tx._after  # pyright: ignore[reportPrivateUsage]


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            # SQLite already rolled back (e.g. after SQLITE_FULL); nothing is left open.
            return


class Writer:
    """The group-commit loop over the backend's one write connection."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        path: Path,
        busy_timeout: float,
        notifier: Notifier,
        max_batch: int = 2000,
    ) -> None:
        self._conn = conn
        self._notifier = notifier
        self._path = path
        self._busy_timeout = busy_timeout
        self._max_batch = max_batch
        self._batches: list[_Batch] = []  # oldest first; the last one takes new calls
        self._open_calls = 0  # calls in the last batch
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transactions = 0
        self._operations = 0

    @property
    def stats(self) -> WriteStats:
        """Transactions and operations committed so far."""
        return WriteStats(self._transactions, self._operations)

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.create_task(self._run(), name=f"memfun-sqlite-writer:{self._path}")

    async def close(self) -> None:
        """Commit everything already submitted, then stop the loop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
            self._loop = None

    def submit(self, op: BatchOp[A, R], item: A) -> asyncio.Future[R]:
        """Queue ``item`` for ``op``; the future resolves once the batch has committed.

        A plain function returning the future, not a coroutine: every publish and ack comes
        through here, and a coroutine per call is measurable at tens of thousands a second.

        Raises:
            ConflictError: The backend is stopped (at once, not through the future).

        The future fails with what the handler reported for this item, or the batch's error.
        """
        if self._closing or self._loop is None:
            raise not_started("SQLite")
        batches = self._batches
        if not batches or self._open_calls >= self._max_batch:
            batches.append({})
            self._open_calls = 0
        calls = batches[-1].get(op)
        if calls is None:
            calls = batches[-1][op] = ([], [])
        future: asyncio.Future[R] = self._loop.create_future()
        calls[0].append(item)
        calls[1].append(future)
        self._open_calls += 1
        self._wake.set()
        return future

    async def transaction(self, job: Callable[[Tx], R]) -> R:
        """Run ``job`` in the next batch, inside its own savepoint, and return its result.

        ``job`` runs on the database thread (synchronous, no event-loop calls). A
        :class:`MemfunError` (or an integrity error) raised by ``job`` rolls back only its own
        writes and is raised to the caller.
        """
        result: R = await self.submit(_GENERIC, job)
        return result

    async def _run(self) -> None:
        while True:
            if not self._batches:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # One loop turn lets callers that are already runnable join this batch: bigger
            # transactions, same promise (nobody is answered before the commit).
            await asyncio.sleep(0)
            batch = self._batches.pop(0)
            if not self._batches:
                self._open_calls = 0
            await self._run_batch(batch)

    async def _run_batch(self, batch: _Batch) -> None:
        notifier = self._notifier
        futures = [future for _, waiting in batch.values() for future in waiting]

        def work(conn: sqlite3.Connection) -> tuple[list[Sequence[Any]], list[Callable[[], None]]]:
            return _commit(conn, batch, notifier)

        try:
            results, after = await run_on_thread(self._conn, work)
        except sqlite3.Error as exc:
            error = map_sqlite_error(
                exc,
                path=self._path,
                operation=" and ".join(op.name for op in batch),
                busy_timeout=self._busy_timeout,
            )
            for future in futures:
                _settle_error(future, error)
            return
        except BaseException as exc:
            for future in futures:
                _settle_error(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._transactions += 1
        self._operations += len(futures)
        for (_, waiting), outcomes in zip(batch.values(), results, strict=True):
            for future, result in zip(waiting, outcomes, strict=True):
                if isinstance(result, Failed):
                    _settle_error(future, result.error)
                elif not future.done():
                    future.set_result(result)
        for callback in after:
            callback()


async def run_on_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
    """Run ``fn(raw sqlite3 connection)`` on ``conn``'s own thread and return its result.

    aiosqlite (0.20-0.22) has no public call for this; ``Connection._execute`` queues a
    callable on the connection's thread exactly like its public methods do, and ``_conn`` is
    the ``sqlite3.Connection`` living there. A change of either fails every T1 write at once
    (and the conformance suite with it), never silently.
    """
    raw: sqlite3.Connection = conn._conn  # pyright: ignore[reportPrivateUsage]
    execute = cast(
        "Callable[[Callable[[sqlite3.Connection], R], sqlite3.Connection], Awaitable[R]]",
        conn._execute,  # pyright: ignore[reportPrivateUsage, reportUnknownMemberType]
    )
    return await execute(fn, raw)


def _settle_error(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
