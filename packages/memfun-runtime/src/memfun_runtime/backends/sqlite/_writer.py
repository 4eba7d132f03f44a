"""Group commit: every write of one backend goes through one transaction loop.

The loop runs everything queued in ONE ``BEGIN IMMEDIATE`` transaction and resolves the
callers' futures only after the commit: a returned call is committed, and concurrent callers
share the lock, commit and fsync. Generic jobs run in a ``SAVEPOINT`` each, so a job that
raises (a lost compare-and-set) rolls back alone. The whole batch is ONE plain function run on
the connection's thread (a hand-off costs tens of microseconds, a statement about one), so
handlers are synchronous; :meth:`Tx.wake` wakes local waiters once the batch has committed.

Other processes' writes are noticed by polling; the :class:`Notifier` only makes local
delivery immediate. Take a :meth:`Notifier.watch` ticket *before* looking for work, so a
change committed between the look and the wait is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import aiosqlite

from memfun_core.errors import InternalError, MemfunError
from memfun_runtime.backends._services import not_started

__all__ = ["BatchOp", "Failed", "Notifier", "Tx", "WriteStats", "Writer", "wait_ticket"]

A = TypeVar("A")
R = TypeVar("R")

Params = Sequence[Any]
_MAX_BATCH = 2000  # calls per transaction


class Notifier:
    """Broadcast "something changed under this key" to every coroutine waiting on it."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def watch(self, key: str) -> asyncio.Event:
        """Return a ticket that is set by the next :meth:`notify` of ``key``."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: str) -> None:
        """Wake everyone holding a ticket for ``key`` (no-op without waiters)."""
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def notify_all(self) -> None:
        """Wake every waiter (the backend stops)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


async def wait_ticket(ticket: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109
    """Wait until ``ticket`` is set or ``timeout`` seconds pass; return whether it was set."""
    if ticket.is_set():
        return True
    if timeout <= 0:
        return False
    try:
        async with asyncio.timeout(timeout):
            await ticket.wait()
    except TimeoutError:
        return False
    return True


class Tx:
    """The open write transaction a handler works in (valid only during the handler call).

    Attributes:
        now: Unix time taken when the transaction began; use it for every timestamp written
            in the transaction so one batch is consistent.
    """

    __slots__ = ("_after", "_conn", "_notifier", "now")

    def __init__(self, conn: sqlite3.Connection, notifier: Notifier) -> None:
        self._conn = conn
        self._after: list[Callable[[], None]] = []
        self._notifier = notifier
        self.now = 0.0

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
        """Run ``callback`` on the event loop once the transaction has committed (not if not)."""
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
            del tx._after[marker:]  # pyright: ignore[reportPrivateUsage]
            result = Failed(exc)
        tx.execute("RELEASE job")
        results.append(result)
    return results


_GENERIC: BatchOp[Callable[[Tx], Any], Any] = BatchOp("transaction", _apply_jobs)


def _commit(
    conn: sqlite3.Connection, batch: _Batch, notifier: Notifier
) -> tuple[list[Sequence[Any]], list[Callable[[], None]]]:
    """Run one batch on the database thread: BEGIN, every handler and COMMIT.

    Returns:
        The results of each kind of write (in the batch's order) and the after-commit calls.
    """
    tx = Tx(conn, notifier)
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
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # SQLite rolled back itself (SQLITE_FULL)
                conn.execute("ROLLBACK")
        raise
    return results, tx._after  # pyright: ignore[reportPrivateUsage]


class Writer:
    """The group-commit loop over the backend's one write connection.

    Attributes:
        notifier: Local wake-ups, sent once a commit is done.
        stats: Transactions and operations committed so far.
    """

    def __init__(
        self, conn: aiosqlite.Connection, error: Callable[[sqlite3.Error, str], MemfunError]
    ) -> None:
        self.notifier = Notifier()
        self.stats = WriteStats(0, 0)
        self._conn = conn
        self._error = error  # what a sqlite3 error during an operation means to the caller
        self._batches: list[_Batch] = []  # oldest first; the last one takes new calls
        self._open_calls = 0  # calls in the last batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, name: str) -> None:
        """Start the loop as a task called ``name``."""
        self._task = asyncio.create_task(self._run(), name=name)

    async def close(self) -> None:
        """Commit everything already submitted, then stop the loop."""
        task, self._task = self._task, None
        self._wake.set()
        if task is not None:
            await task

    def submit(self, op: BatchOp[A, R], item: A) -> asyncio.Future[R]:
        """Queue ``item`` for ``op``; the future resolves once the batch has committed.

        A plain function returning the future, not a coroutine: every publish and ack comes
        through here, and a coroutine per call is measurable at tens of thousands a second.
        The future fails with what the handler reported for this item, or the batch's error.

        Raises:
            ConflictError: The backend is stopped (at once, not through the future).
        """
        if self._task is None:
            raise not_started("SQLite")
        batches = self._batches
        if not batches or self._open_calls >= _MAX_BATCH:
            batches.append({})
            self._open_calls = 0
        calls = batches[-1].get(op)
        if calls is None:
            calls = batches[-1][op] = ([], [])
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        calls[0].append(item)
        calls[1].append(future)
        self._open_calls += 1
        self._wake.set()
        return future

    async def transaction(self, job: Callable[[Tx], R]) -> R:
        """Run ``job`` (synchronous) in the next batch in its own savepoint; return its result.

        A :class:`MemfunError` (or an integrity error) from ``job`` rolls back its own writes.
        """
        result: R = await self.submit(_GENERIC, job)
        return result

    async def _run(self) -> None:
        while True:
            if not self._batches:
                if self._task is None:  # closing
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
        notifier = self.notifier
        futures = [future for _, waiting in batch.values() for future in waiting]
        try:
            results, after = await _run_on_thread(
                self._conn, lambda conn: _commit(conn, batch, notifier)
            )
        except BaseException as exc:
            error = exc
            if isinstance(exc, sqlite3.Error):
                error = self._error(exc, " and ".join(op.name for op in batch))
            for future in futures:
                _settle_error(future, error)
            if not isinstance(exc, Exception):
                raise
            return
        self.stats = WriteStats(self.stats.transactions + 1, self.stats.operations + len(futures))
        for (_, waiting), outcomes in zip(batch.values(), results, strict=True):
            for future, result in zip(waiting, outcomes, strict=True):
                if isinstance(result, Failed):
                    _settle_error(future, result.error)
                elif not future.done():
                    future.set_result(result)
        for callback in after:
            callback()


async def _run_on_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
    """Run ``fn(raw sqlite3 connection)`` on ``conn``'s own thread and return its result.

    aiosqlite (0.20-0.22) has no public call for this; ``Connection._execute`` queues a
    callable on the connection's thread exactly like its public methods do, and ``_conn`` is
    the ``sqlite3.Connection`` living there. A change of either fails every T1 write at once
    (and the conformance suite with it), never silently; so ``pyproject.toml`` admits aiosqlite
    below 0.23 only, and a newer release is let in once this suite passes on it.
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
