"""The T1 state store: one ``kv`` row per key, versions from one database-wide counter.

Versions come from ``memfun_counters['kv']``, so they strictly increase per key and are
never reused, even across delete and re-create. Expired rows read as absent and are
overwritten by the next write; the backend's maintenance deletes them later.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from memfun_runtime.backends._state_base import StateStoreBase, expect, not_an_integer
from memfun_runtime.backends.sqlite._database import Handle
from memfun_runtime.backends.sqlite._writer import Tx
from memfun_runtime.protocols import Entry

__all__ = ["SQLiteStateStore"]

_SCAN_PAGE = 500
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _current(tx: Tx, key: str) -> tuple[int, str, float | None] | None:
    """The live (version, value text, expires_at) of ``key`` inside a transaction."""
    row = tx.fetchone(
        f"SELECT version, value, expires_at FROM kv WHERE key = ? AND {_LIVE}",  # noqa: S608 - constant
        (key, tx.now),
    )
    if row is None:
        return None
    return int(row[0]), str(row[1]), None if row[2] is None else float(row[2])


def _write(tx: Tx, key: str, text: str, expires: float | None) -> int:
    row = tx.fetchone(
        "INSERT INTO memfun_counters (name, value) VALUES ('kv', 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
    )
    assert row is not None
    version = int(row[0])
    tx.execute(
        "INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, "
        "expires_at = excluded.expires_at",
        (key, text, version, expires),
    )
    return version


class SQLiteStateStore(StateStoreBase):
    """:class:`~memfun_runtime.protocols.StateStore` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    async def _get(self, key: str) -> Entry | None:
        row = await self._handle.db.read_one(
            f"SELECT value, version, expires_at FROM kv WHERE key = ? AND {_LIVE}",  # noqa: S608 - constant
            (key, time.time()),
        )
        return None if row is None else Entry(self._handle.decode(row[0], key), int(row[1]), row[2])

    async def _set(self, key: str, text: str, ttl: float | None) -> int:
        return await self._handle.db.writer.transaction(
            lambda tx: _write(tx, key, text, None if ttl is None else tx.now + ttl)
        )

    async def _cas(self, key: str, text: str, ttl: float | None, expected: int | None) -> int:
        def job(tx: Tx) -> int:
            current = _current(tx, key)
            expect(key, expected, None if current is None else current[0])
            return _write(tx, key, text, None if ttl is None else tx.now + ttl)

        return await self._handle.db.writer.transaction(job)

    async def _delete(self, key: str, expected: int | None) -> bool:
        def job(tx: Tx) -> bool:
            current = _current(tx, key)
            if expected is not None:
                expect(key, expected, None if current is None else current[0])
            tx.execute("DELETE FROM kv WHERE key = ?", (key,))
            return current is not None

        return await self._handle.db.writer.transaction(job)

    async def _increment(self, key: str, delta: int) -> int:
        def job(tx: Tx) -> int:
            current = _current(tx, key)
            number = 0 if current is None else self._handle.decode(current[1], key)
            if isinstance(number, bool) or not isinstance(number, int):
                raise not_an_integer(key, number)
            _write(tx, key, str(number + delta), None if current is None else current[2])
            return number + delta

        return await self._handle.db.writer.transaction(job)

    async def _scan(self, prefix: str) -> AsyncIterator[tuple[str, Entry]]:
        upper = prefix + "\x7f"  # keys are ASCII: every key with the prefix sorts below this
        last = prefix
        inclusive = True
        while True:
            op = ">=" if inclusive else ">"
            rows = await self._handle.db.read(
                f"SELECT key, value, version, expires_at FROM kv WHERE key {op} ? AND key < ? "  # noqa: S608 - operator from a fixed pair
                f"AND {_LIVE} ORDER BY key LIMIT ?",
                (last, upper, time.time(), _SCAN_PAGE),
            )
            for key, text, version, expires in rows:
                yield str(key), Entry(self._handle.decode(text, str(key)), int(version), expires)
            if len(rows) < _SCAN_PAGE:
                return
            last, inclusive = str(rows[-1][0]), False
