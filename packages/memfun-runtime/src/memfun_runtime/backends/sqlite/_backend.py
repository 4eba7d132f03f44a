"""``SQLiteBackend``: every service in one WAL-mode SQLite file (tier ``sqlite``, T1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from memfun_core.errors import MemfunError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends._services import BackendBase, Services
from memfun_runtime.backends.sqlite._database import Database, Handle, Synchronous
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._events import PRUNE_EVENTS, SQLiteEventBus
from memfun_runtime.backends.sqlite._ownership import Ownership
from memfun_runtime.backends.sqlite._registry import SQLiteAgentRegistry, SQLiteSkillRegistry
from memfun_runtime.backends.sqlite._sessions import SQLiteSessionStore
from memfun_runtime.backends.sqlite._state import SQLiteStateStore
from memfun_runtime.backends.sqlite._tasks import SQLiteTaskQueue
from memfun_runtime.backends.sqlite._writer import Tx, WriteStats
from memfun_runtime.protocols import DEFAULT_DEDUPE_WINDOW

__all__ = ["EXPIRED_ROWS", "FINISHED_TASKS", "SQLiteBackend"]

_log = logging.getLogger(__name__)

# Reads at most one row of each service's table: proves the tables are readable.
_PROBE = (
    "SELECT (SELECT 1 FROM consumer_groups LIMIT 1), (SELECT 1 FROM kv LIMIT 1), "
    "(SELECT 1 FROM tasks LIMIT 1), (SELECT 1 FROM sessions LIMIT 1), "
    "(SELECT 1 FROM agents LIMIT 1), (SELECT 1 FROM skills LIMIT 1)"
)

EXPIRED_ROWS = (
    "DELETE FROM event_ids WHERE expires_at <= ?",
    "DELETE FROM kv WHERE expires_at <= ?",
    "DELETE FROM session_turns WHERE session_id IN (SELECT id FROM sessions WHERE expires_at <= ?)",
    "DELETE FROM sessions WHERE expires_at <= ?",
    "DELETE FROM agent_capabilities WHERE instance_id IN "
    "(SELECT instance_id FROM agents WHERE expires_at <= ?)",
    "DELETE FROM agents WHERE expires_at <= ?",
)
"""The clean-up's deletes of rows expired by the time given; each finds them by an index."""
FINISHED_TASKS = "DELETE FROM tasks WHERE finished_at <= ?"
"""The clean-up's delete of tasks finished before the retention's cut-off."""


class SQLiteBackend(BackendBase):
    """The T1 embedded backend: one SQLite file in WAL mode, durable across process crashes.

    Several processes (and several backends in one process) may open the same file: every
    write is a ``BEGIN IMMEDIATE`` transaction, so consumers of one group compete without
    receiving the same delivery twice, and a lease is held by one worker at a time.

    Durability of a returned call (publish, ack, set, complete, ...): committed to the WAL.
    With ``synchronous="normal"`` (default) that survives any process crash (SIGKILL
    included) but not necessarily a power loss or OS crash; ``"full"`` fsyncs every commit
    and survives those too. Concurrent calls share one transaction (group commit), so a
    batch costs one commit (one fsync under ``"full"``) whatever its size.

    Args:
        path: The database file (created with its directory when missing).
        synchronous: ``"normal"`` or ``"full"``, see above.
        busy_timeout: Seconds to wait for another process's write lock before an
            :class:`~memfun_core.errors.OperationTimeout`.
        poll_interval: Seconds between checks for events and tasks written by other
            processes (local writes wake waiters at once).
        dedupe_window: Seconds an event id is remembered for idempotent publish.
        task_retention: Seconds completed and dead tasks stay inspectable.
        event_retention: Seconds events are kept in the log; ``None`` keeps them forever.
            Deliveries of a pruned event are dropped.
        maintenance_interval: Seconds between clean-ups of expired rows.
        verify: Run ``PRAGMA quick_check`` when opening an existing file.
        ownership: Stamp new files as this user's and refuse existing ones without the
            stamp unless adopted (see :class:`Ownership`); ``None``: no check.

    Raises:
        ValidationError: A bad setting (raised by the constructor).
    """

    TIER = BACKEND

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Synchronous = "normal",
        busy_timeout: float = 5.0,
        poll_interval: float = 0.05,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
        task_retention: float = 86_400.0,
        event_retention: float | None = None,
        maintenance_interval: float = 60.0,
        verify: bool = True,
        ownership: Ownership | None = None,
    ) -> None:
        self._path = Path(path)
        self._ownership = ownership
        if synchronous not in ("normal", "full"):
            raise ValidationError(
                f"must be 'normal' or 'full', not {synchronous!r}",
                field="synchronous",
                rule="one of normal, full",
                hint="'normal' survives process crashes, 'full' also power loss",
            )
        self._synchronous: Synchronous = synchronous
        self._busy_timeout = _codec.check_positive(busy_timeout, field="busy_timeout")
        self._task_retention = _codec.check_positive(task_retention, field="task_retention")
        self._event_retention = _codec.check_ttl(event_retention, field="event_retention")
        self._maintenance_interval = _codec.check_positive(
            maintenance_interval, field="maintenance_interval"
        )
        self._verify = verify
        handle = self._handle = Handle(_codec.check_positive(poll_interval, field="poll_interval"))
        self._provide(
            Services(
                SQLiteEventBus(handle, dedupe_window=dedupe_window),
                SQLiteStateStore(handle),
                SQLiteTaskQueue(handle),
                SQLiteSessionStore(handle),
                SQLiteAgentRegistry(handle),
                SQLiteSkillRegistry(handle),
            )
        )
        self._maintenance: asyncio.Task[None] | None = None

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def write_stats(self) -> WriteStats:
        """Transactions and operations committed since :meth:`start` (group-commit ratio).

        Raises:
            ConflictError: The backend is not started.
        """
        return self._handle.db.writer.stats

    def _running(self) -> bool:
        return self._handle.database is not None

    async def _open(self) -> None:
        """Open (create, check, migrate) the database file; raises as ``Database.open``."""
        self._handle.database = await Database.open(
            self._path,
            synchronous=self._synchronous,
            busy_timeout=self._busy_timeout,
            verify=self._verify,
            ownership=self._ownership,
        )
        self._maintenance = asyncio.create_task(
            self._maintain(), name=f"memfun-sqlite-maintenance:{self._path}"
        )

    async def _close(self) -> None:
        """Stop the clean-up loop, commit queued writes and close the file."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        database, self._handle.database = self._handle.database, None
        if database is not None:
            await database.close()

    async def _probe(self) -> str:
        await self._handle.db.read(_PROBE)
        return str(self._path)

    async def maintain(self) -> None:
        """Delete expired rows now (also runs every ``maintenance_interval`` seconds)."""
        task_retention, event_retention = self._task_retention, self._event_retention

        def job(tx: Tx) -> None:
            now = tx.now
            for statement in EXPIRED_ROWS:
                tx.execute(statement, (now,))
            tx.execute(FINISHED_TASKS, (now - task_retention,))
            if event_retention is not None:
                tx.execute(PRUNE_EVENTS, (now - event_retention,))

        await self._handle.db.writer.transaction(job)

    async def _maintain(self) -> None:
        while True:
            try:
                await self.maintain()
            except MemfunError as exc:
                # Expired rows already read as absent; a failed clean-up only delays reclaiming
                # space, so it is reported and retried at the next interval.
                _log.warning("clean-up of %s failed, retrying later: %s", self._path, exc)
            except Exception:  # a bug (its own, or another call's in the same transaction)
                _log.exception("clean-up of %s failed unexpectedly, retrying later", self._path)
            await asyncio.sleep(self._maintenance_interval)

    def _where(self) -> tuple[str, ...]:
        return (repr(str(self._path)),)
