"""The T1 database schema, its version table and its migrations.

The file holds one ``memfun_meta`` row ``schema_version``. Opening a file:

* without Memfun tables and without other tables: the current schema is created;
* at an older version: the migrations from that version on run in one transaction;
* at a newer version (written by a newer memfun-runtime): :class:`ConfigError`, nothing is
  touched;
* with a non-integer version or foreign tables only: a clear error, nothing is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from memfun_core.errors import ConfigError, CorruptDataError
from memfun_runtime.backends.sqlite._errors import BACKEND, HINT_DAMAGED

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "check_schema", "ensure_schema"]

APPLICATION_ID = 0x4D454D46
"""``PRAGMA application_id`` of a Memfun database ("MEMF")."""

_V1: tuple[str, ...] = (
    "CREATE TABLE memfun_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE memfun_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    # --- event bus -------------------------------------------------------------------------
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        headers TEXT,
        ts REAL NOT NULL
    )""",
    "CREATE INDEX events_by_topic ON events (topic, seq)",
    "CREATE INDEX events_by_time ON events (topic, ts)",
    """CREATE TABLE event_ids (
        topic TEXT NOT NULL,
        id TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (topic, id)
    ) WITHOUT ROWID""",
    """CREATE TABLE consumer_groups (
        topic TEXT NOT NULL,
        grp TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (topic, grp)
    ) WITHOUT ROWID""",
    """CREATE TABLE deliveries (
        topic TEXT NOT NULL,
        grp TEXT NOT NULL,
        seq INTEGER NOT NULL,
        consumer TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        visible_at REAL NOT NULL,
        max_deliveries INTEGER NOT NULL,
        dead_topic TEXT NOT NULL,
        PRIMARY KEY (topic, grp, seq)
    ) WITHOUT ROWID""",
    "CREATE INDEX deliveries_due ON deliveries (topic, grp, visible_at)",
    # --- state -----------------------------------------------------------------------------
    """CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        version INTEGER NOT NULL,
        expires_at REAL
    ) WITHOUT ROWID""",
    "CREATE INDEX kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL",
    # --- tasks -----------------------------------------------------------------------------
    """CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        backoff REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        available_at REAL NOT NULL,
        lease_token TEXT,
        lease_expires REAL,
        last_error TEXT,
        result TEXT,
        finished_at REAL,
        UNIQUE (queue, id)
    )""",
    "CREATE INDEX tasks_ready ON tasks (queue, status, priority DESC, available_at, seq)",
    "CREATE INDEX tasks_leases ON tasks (queue, status, lease_expires)",
    "CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL",
    # --- sessions --------------------------------------------------------------------------
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        metadata TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        turn_count INTEGER NOT NULL,
        ttl REAL,
        expires_at REAL,
        parent_id TEXT,
        forked_at INTEGER
    ) WITHOUT ROWID""",
    "CREATE INDEX sessions_recent ON sessions (updated_at)",
    """CREATE TABLE session_turns (
        session_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (session_id, idx)
    ) WITHOUT ROWID""",
    # --- registries ------------------------------------------------------------------------
    """CREATE TABLE agents (
        instance_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        capabilities TEXT NOT NULL,
        metadata TEXT NOT NULL,
        registered_at REAL NOT NULL,
        last_heartbeat REAL NOT NULL,
        ttl REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE agent_capabilities (
        capability TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        PRIMARY KEY (capability, instance_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE skills (
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        description TEXT NOT NULL,
        metadata TEXT NOT NULL,
        published_at REAL NOT NULL,
        UNIQUE (name, version)
    )""",
    """CREATE TABLE skill_invocations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        skill TEXT NOT NULL,
        version TEXT,
        outcome TEXT NOT NULL,
        latency REAL NOT NULL,
        tokens INTEGER NOT NULL,
        cost REAL NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at REAL NOT NULL
    )""",
    "CREATE INDEX skill_invocations_by_skill ON skill_invocations (skill, seq)",
)

_V2: tuple[str, ...] = (
    # The log is rebuilt once: without AUTOINCREMENT (its bookkeeping row was rewritten for
    # every event; retention keeps the newest event, so a seq is never handed out twice), and
    # without the (topic, ts) index, which no query used and every publish paid for.
    """CREATE TABLE events_v2 (
        seq INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        headers TEXT,
        ts REAL NOT NULL
    )""",
    "INSERT INTO events_v2 SELECT seq, topic, id, payload, headers, ts FROM events ORDER BY seq",
    "DROP TABLE events",
    "ALTER TABLE events_v2 RENAME TO events",
    "CREATE INDEX events_by_topic ON events (topic, seq)",
    # The clean-up of expired publish ids read the whole table under the write lock.
    "CREATE INDEX event_ids_expiry ON event_ids (expires_at)",
    # Consumer groups get an integer id and deliveries are keyed by it, not by two texts: a
    # smaller key in the table and its index, for a row written and deleted per delivery.
    """CREATE TABLE consumer_groups_v2 (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        grp TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (topic, grp)
    )""",
    "INSERT INTO consumer_groups_v2 (topic, grp, cursor, created_at) "
    "SELECT topic, grp, cursor, created_at FROM consumer_groups ORDER BY topic, grp",
    """CREATE TABLE deliveries_v2 (
        gid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        consumer TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        visible_at REAL NOT NULL,
        max_deliveries INTEGER NOT NULL,
        dead_topic TEXT NOT NULL,
        PRIMARY KEY (gid, seq)
    ) WITHOUT ROWID""",
    "INSERT INTO deliveries_v2 SELECT g.id, d.seq, d.consumer, d.attempt, d.visible_at, "
    "d.max_deliveries, d.dead_topic FROM deliveries d "
    "JOIN consumer_groups_v2 g ON g.topic = d.topic AND g.grp = d.grp",
    "DROP TABLE deliveries",
    "DROP TABLE consumer_groups",
    "ALTER TABLE consumer_groups_v2 RENAME TO consumer_groups",
    "ALTER TABLE deliveries_v2 RENAME TO deliveries",
    "CREATE INDEX deliveries_due ON deliveries (gid, visible_at)",
)

_V3: tuple[str, ...] = (
    # The clean-up's expiry deletes and an agent's re-registration read whole tables.
    "CREATE INDEX sessions_expiry ON sessions (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE INDEX agents_expiry ON agents (expires_at)",
    "CREATE INDEX agent_capabilities_by_instance ON agent_capabilities (instance_id)",
)

SCHEMA_VERSION = 3
"""The version this code writes and reads."""

MIGRATIONS: Mapping[int, Sequence[str]] = {1: _V1, 2: _V2, 3: _V3}
"""Statements that bring a database from version ``n - 1`` to ``n`` (1 creates everything)."""


async def check_schema(conn: aiosqlite.Connection, path: Path) -> int | None:
    """Check, without writing, that the file can be used; return its version (``None``: empty).

    Raises:
        ConfigError: The file was written by a newer memfun-runtime, or belongs to another
            application.
        CorruptDataError: The stored version is unreadable, or the schema holds a trigger
            or a view (Memfun creates neither).
    """
    tables = {
        str(row[0])
        for row in await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if "memfun_meta" not in tables:
        if tables:
            raise ConfigError(
                "the file is a SQLite database of another application (it has tables "
                f"{', '.join(sorted(tables)[:5])} but no Memfun schema)",
                source=str(path),
                hint="point the runtime at a new file, e.g. .memfun/runtime.db",
            )
        return None
    foreign = [
        f"{row[0]} {row[1]!r}"
        for row in await conn.execute_fetchall(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') ORDER BY name"
        )
    ]
    if foreign:  # a trigger could rewrite every task or event written from now on
        raise CorruptDataError(
            f"the database holds {', '.join(foreign[:5])}, which Memfun never creates: "
            "another program changed its schema",
            backend=BACKEND,
            location=str(path),
            hint="if the file came with a repository or from someone else, move it away so "
            "a new one is created; otherwise restore it from a backup",
        )
    rows = list(
        await conn.execute_fetchall("SELECT value FROM memfun_meta WHERE key = 'schema_version'")
    )
    raw = str(rows[0][0]) if rows else ""
    if not raw.isdigit() or int(raw) < 1:
        raise CorruptDataError(
            f"the Memfun schema version is unreadable ({raw!r})",
            backend=BACKEND,
            location=str(path),
            hint=HINT_DAMAGED,
        )
    if int(raw) > SCHEMA_VERSION:
        raise ConfigError(
            f"the database has schema version {raw}, newer than the {SCHEMA_VERSION} "
            "this memfun-runtime understands",
            source=str(path),
            hint="upgrade memfun-runtime (pip install -U memfun-runtime), or use another file",
        )
    return int(raw)


async def ensure_schema(
    conn: aiosqlite.Connection,
    path: Path,
    *,
    on_create: tuple[str, Sequence[Any]] | None = None,
) -> bool:
    """Create or migrate the schema on ``conn`` (autocommit mode), raising as :func:`check_schema`.

    Runs in one ``BEGIN IMMEDIATE`` transaction, so processes opening a new file at the same
    time create it once; ``on_create`` (a statement and its parameters) runs in that
    transaction when this call creates the schema. Returns whether it did.
    """
    await conn.execute("BEGIN IMMEDIATE")
    try:
        current = await check_schema(conn, path) or 0
        for target in range(current + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                await conn.execute(statement)
        if current == 0 and on_create is not None:
            await conn.execute(*on_create)
        if current < SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO memfun_meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    return current == 0
