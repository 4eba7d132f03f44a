"""The in-memory state store: versioned keys with TTL, compare-and-set and counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.memory._common import TIER, Gate, now
from memfun_runtime.protocols import Entry, JSONValue, StateStore

__all__ = ["MemoryStateStore"]


@dataclass(slots=True)
class _Item:
    text: str
    version: int
    expires_at: float | None

    def entry(self, key: str) -> Entry:
        value = _codec.decode_json(self.text, backend=TIER, location=key)
        return Entry(value=value, version=self.version, expires_at=self.expires_at)


class MemoryStateStore(StateStore):
    """:class:`~memfun_runtime.protocols.StateStore` in process memory (see the protocol).

    Versions come from one counter for the whole store, so they keep growing for a key
    even across delete and re-create.
    """

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._items: dict[str, _Item] = {}
        self._clock = 0

    def _live(self, key: str) -> _Item | None:
        item = self._items.get(key)
        if item is not None and item.expires_at is not None and item.expires_at <= now():
            del self._items[key]
            return None
        return item

    def _write(self, key: str, text: str, ttl: float | None) -> int:
        self._clock += 1
        expires = None if ttl is None else now() + ttl
        self._items[key] = _Item(text, self._clock, expires)
        return self._clock

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None``."""
        self._gate.check()
        _codec.check_name(key, field="key")
        item = self._live(key)
        return None if item is None else item.entry(key)

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` and return the new version."""
        self._gate.check()
        _codec.check_name(key, field="key")
        seconds = _codec.check_ttl(ttl)
        return self._write(key, _codec.encode_json(value, field="value"), seconds)

    async def compare_and_set(
        self,
        key: str,
        value: JSONValue,
        *,
        expected_version: int | None,
        ttl: float | None = None,
    ) -> int:
        """Write only at ``expected_version`` (``None``: must not exist)."""
        self._gate.check()
        _codec.check_name(key, field="key")
        seconds = _codec.check_ttl(ttl)
        text = _codec.encode_json(value, field="value")
        item = self._live(key)
        current = None if item is None else item.version
        if current != expected_version:
            raise _conflict(key, expected_version, current)
        return self._write(key, text, seconds)

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; with ``expected_version``, only at that version."""
        self._gate.check()
        _codec.check_name(key, field="key")
        item = self._live(key)
        if expected_version is not None:
            current = None if item is None else item.version
            if current != expected_version:
                raise _conflict(key, expected_version, current)
        if item is None:
            return False
        del self._items[key]
        return True

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to an integer value and return the result."""
        self._gate.check()
        _codec.check_name(key, field="key")
        if isinstance(delta, bool) or not isinstance(delta, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(f"must be an int, got {delta!r}", field="delta", rule="an int")
        item = self._live(key)
        current = 0
        if item is not None:
            stored = item.entry(key).value
            if isinstance(stored, bool) or not isinstance(stored, int):
                raise ValidationError(
                    f"holds {type(stored).__name__} {stored!r}, not an integer",
                    field="key",
                    rule="increment needs an integer value",
                    hint=f"set {key!r} to an integer or use another key for the counter",
                )
            current = stored
        result = current + delta
        self._clock += 1
        expires = None if item is None else item.expires_at
        self._items[key] = _Item(str(result), self._clock, expires)
        return result

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix``."""
        self._gate.check()
        _codec.check_prefix(prefix)
        for key in [k for k in self._items if k.startswith(prefix)]:
            item = self._live(key)
            if item is not None:
                yield key, item.entry(key)


def _conflict(key: str, expected: int | None, current: int | None) -> ConflictError:
    wanted = "absent" if expected is None else f"version {expected}"
    found = "absent" if current is None else f"at version {current}"
    return ConflictError(
        f"state key {key!r}: expected {wanted}, but it is {found}",
        hint="read the key again and retry with its current version",
    )
