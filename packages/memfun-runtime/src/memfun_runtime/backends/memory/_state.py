"""The in-memory state store: versioned keys with TTL, compare-and-set and counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from memfun_runtime import _codec
from memfun_runtime.backends._state_base import StateStoreBase, expect, not_an_integer
from memfun_runtime.backends.memory._common import TIER, Gate, now
from memfun_runtime.protocols import Entry

__all__ = ["MemoryStateStore"]


@dataclass(slots=True)
class _Item:
    text: str
    version: int
    expires_at: float | None

    def entry(self, key: str) -> Entry:
        value = _codec.decode_json(self.text, backend=TIER, location=key)
        return Entry(value=value, version=self.version, expires_at=self.expires_at)


class MemoryStateStore(StateStoreBase):
    """:class:`~memfun_runtime.protocols.StateStore` in process memory (see the protocol).

    Versions come from one counter for the whole store, so they keep growing for a key
    even across delete and re-create.
    """

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._items: dict[str, _Item] = {}
        self._clock = 0

    def _live(self, key: str) -> _Item | None:
        self._gate.check()
        item = self._items.get(key)
        if item is not None and item.expires_at is not None and item.expires_at <= now():
            del self._items[key]
            return None
        return item

    def _write(self, key: str, text: str, expires: float | None) -> int:
        self._clock += 1
        self._items[key] = _Item(text, self._clock, expires)
        return self._clock

    async def _get(self, key: str) -> Entry | None:
        item = self._live(key)
        return None if item is None else item.entry(key)

    async def _set(self, key: str, text: str, ttl: float | None) -> int:
        self._gate.check()
        return self._write(key, text, None if ttl is None else now() + ttl)

    async def _cas(self, key: str, text: str, ttl: float | None, expected: int | None) -> int:
        item = self._live(key)
        expect(key, expected, None if item is None else item.version)
        return self._write(key, text, None if ttl is None else now() + ttl)

    async def _delete(self, key: str, expected: int | None) -> bool:
        item = self._live(key)
        if expected is not None:
            expect(key, expected, None if item is None else item.version)
        if item is None:
            return False
        del self._items[key]
        return True

    async def _increment(self, key: str, delta: int) -> int:
        item = self._live(key)
        current = 0 if item is None else item.entry(key).value
        if isinstance(current, bool) or not isinstance(current, int):
            raise not_an_integer(key, current)
        self._write(key, str(current + delta), None if item is None else item.expires_at)
        return current + delta

    async def _scan(self, prefix: str) -> AsyncIterator[tuple[str, Entry]]:
        self._gate.check()
        for key in [k for k in self._items if k.startswith(prefix)]:
            item = self._live(key)
            if item is not None:
                yield key, item.entry(key)
