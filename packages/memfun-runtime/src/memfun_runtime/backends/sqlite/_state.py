"""The T1 state store: one ``kv`` row per key, versions from one database-wide counter.

Versions come from ``memfun_counters['kv']``, so they strictly increase per key and are
never reused, even across delete and re-create. Expired rows read as absent and are
overwritten by the next write; the backend's maintenance deletes them later.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._writer import Tx
from memfun_runtime.protocols import Entry, JSONValue, StateStore

__all__ = ["SQLiteStateStore"]

_SCAN_PAGE = 500
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _next_version(tx: Tx) -> int:
    row = tx.fetchone(
        "INSERT INTO memfun_counters (name, value) VALUES ('kv', 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
    )
    assert row is not None
    return int(row[0])


def _current(tx: Tx, key: str) -> tuple[int, str, float | None] | None:
    """The live (version, value text, expires_at) of ``key`` inside a transaction."""
    row = tx.fetchone(
        f"SELECT version, value, expires_at FROM kv WHERE key = ? AND {_LIVE}",  # noqa: S608 - constant
        (key, tx.now),
    )
    if row is None:
        return None
    return int(row[0]), str(row[1]), None if row[2] is None else float(row[2])


def _write(tx: Tx, key: str, text: str, ttl: float | None) -> int:
    version = _next_version(tx)
    expires = None if ttl is None else tx.now + ttl
    tx.execute(
        "INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, "
        "expires_at = excluded.expires_at",
        (key, text, version, expires),
    )
    return version


class SQLiteStateStore(StateStore):
    """:class:`~memfun_runtime.protocols.StateStore` on the T1 SQLite file (see the protocol)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _decode(self, key: str, text: str) -> Any:
        return _codec.decode_json(text, backend=BACKEND, location=self._handle.location(key))

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None`` when absent or expired."""
        _codec.check_name(key, field="key")
        row = await self._handle.db.read_one(
            f"SELECT value, version, expires_at FROM kv WHERE key = ? AND {_LIVE}",  # noqa: S608 - constant
            (key, time.time()),
        )
        if row is None:
            return None
        return Entry(self._decode(key, row[0]), int(row[1]), row[2])

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` unconditionally and return the new version."""
        _codec.check_name(key, field="key")
        text = _codec.encode_json(value, field="value")
        seconds = _codec.check_ttl(ttl)

        def job(tx: Tx) -> int:
            return _write(tx, key, text, seconds)

        return await self._handle.db.writer.transaction(job)

    async def compare_and_set(
        self,
        key: str,
        value: JSONValue,
        *,
        expected_version: int | None,
        ttl: float | None = None,
    ) -> int:
        """Write only if the key is at ``expected_version`` (``None``: absent)."""
        _codec.check_name(key, field="key")
        text = _codec.encode_json(value, field="value")
        seconds = _codec.check_ttl(ttl)
        if expected_version is not None:
            _codec.check_int(expected_version, field="expected_version", minimum=0)

        def job(tx: Tx) -> int:
            current = _current(tx, key)
            found = None if current is None else current[0]
            if found != expected_version:
                raise _conflict(key, expected_version, found)
            return _write(tx, key, text, seconds)

        return await self._handle.db.writer.transaction(job)

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        _codec.check_name(key, field="key")
        if expected_version is not None:
            _codec.check_int(expected_version, field="expected_version", minimum=0)

        def job(tx: Tx) -> bool:
            current = _current(tx, key)
            if expected_version is not None and (current is None or current[0] != expected_version):
                raise _conflict(key, expected_version, None if current is None else current[0])
            tx.execute("DELETE FROM kv WHERE key = ?", (key,))
            return current is not None

        return await self._handle.db.writer.transaction(job)

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to an integer value (absent counts as 0)."""
        _codec.check_name(key, field="key")
        if isinstance(delta, bool) or not isinstance(delta, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be an int, not {type(delta).__name__}", field="delta", rule="an int"
            )

        def job(tx: Tx) -> int:
            current = _current(tx, key)
            number = 0
            expires: float | None = None
            if current is not None:
                stored = self._decode(key, current[1])
                if isinstance(stored, bool) or not isinstance(stored, int):
                    raise ValidationError(
                        f"key {key!r} holds a {type(stored).__name__}, not an integer",
                        field="key",
                        rule="increment needs an integer value",
                        hint="set the key to an int first, or use another key",
                    )
                number, expires = stored, current[2]
            result = number + delta
            version = _next_version(tx)
            tx.execute(
                "INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "version = excluded.version, expires_at = excluded.expires_at",
                (key, str(result), version, expires),
            )
            return result

        return await self._handle.db.writer.transaction(job)

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix``."""
        _codec.check_prefix(prefix)
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
                yield str(key), Entry(self._decode(str(key), text), int(version), expires)
            if len(rows) < _SCAN_PAGE:
                return
            last, inclusive = str(rows[-1][0]), False


def _conflict(key: str, expected: int | None, found: int | None) -> ConflictError:
    wanted = "absent" if expected is None else f"at version {expected}"
    actual = "absent" if found is None else f"at version {found}"
    return ConflictError(
        f"state key {key!r} was expected {wanted} but is {actual}",
        hint="read the key again and retry with its current version",
    )
