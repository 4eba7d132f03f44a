"""The state store on a JetStream KV bucket: revisions are versions, TTL rides with the value.

NATS 2.9 has no per-message TTL and a bucket's ``max_age`` applies to every key, so each
value is stored as ``{"v": value, "e": expires_at | null}``: an expired entry reads as
absent (checked on every access, as the protocol allows), and the first access after the
expiry deletes it conditionally (at its revision) so the space is reclaimed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, cast

from memfun_runtime.backends._state_base import StateStoreBase, conflict, expect, not_an_integer
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.protocols import Entry

__all__ = ["NatsStateStore"]


def _entry(stored: Any, revision: int) -> Entry:
    """The entry of a stored ``{"v": value, "e": expires_at}`` record."""
    record = cast("dict[str, Any]", stored) if isinstance(stored, dict) else {}
    expires = record.get("e")
    return Entry(record.get("v"), revision, None if expires is None else float(expires))


def _record(text: str, ttl: float | None) -> bytes:
    expires = "null" if ttl is None else repr(time.time() + ttl)
    return f'{{"v":{text},"e":{expires}}}'.encode()


class NatsStateStore(StateStoreBase):
    """:class:`~memfun_runtime.protocols.StateStore` on the KV bucket ``<ns>_state``."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "state")

    async def _get(self, key: str) -> Entry | None:
        """The live entry; the first read after its expiry deletes it (at its revision)."""
        found = await self._bucket.get(key)
        if found is None:
            return None
        entry = _entry(*found)
        if entry.expires_at is not None and entry.expires_at <= time.time():
            await self._bucket.delete(key, entry.version)
            return None
        return entry

    async def _set(self, key: str, text: str, ttl: float | None) -> int:
        return await self._bucket.put(key, _record(text, ttl))

    async def _cas(self, key: str, text: str, ttl: float | None, expected: int | None) -> int:
        record = _record(text, ttl)
        if expected is None:
            for _ in range(2):  # again once the read has deleted an expired entry
                written = await self._bucket.create(key, record)
                if written is not None:
                    return written
                live = await self._get(key)
                expect(key, None, None if live is None else live.version)
            raise conflict(key, None, "another writer created it first")
        live = await self._get(key)
        expect(key, expected, None if live is None else live.version)
        written = await self._bucket.update(key, record, expected)
        if written is None:
            raise conflict(key, expected, "another writer changed it first")
        return written

    async def _delete(self, key: str, expected: int | None) -> bool:
        while True:
            live = await self._get(key)
            if expected is not None:
                expect(key, expected, None if live is None else live.version)
            if live is None:
                return False
            if await self._bucket.delete(key, live.version):
                return True
            if expected is not None:
                raise conflict(key, expected, "another writer changed it first")

    async def _increment(self, key: str, delta: int) -> int:
        """A revision-checked read-modify-write, retried on races."""
        while True:
            live = await self._get(key)
            if live is None:
                if await self._bucket.create(key, {"v": delta, "e": None}) is not None:
                    return delta
                continue
            if isinstance(live.value, bool) or not isinstance(live.value, int):
                raise not_an_integer(key, live.value)
            total = live.value + delta
            record = {"v": total, "e": live.expires_at}
            if await self._bucket.update(key, record, live.version) is not None:
                return total

    async def _scan(self, prefix: str) -> AsyncIterator[tuple[str, Entry]]:
        cut = prefix.rfind(".")
        if cut == 0:
            return
        now = time.time()
        async for key, stored, revision in self._bucket.items(f"{prefix[: cut + 1]}>"):
            entry = _entry(stored, revision)
            if key.startswith(prefix) and (entry.expires_at is None or entry.expires_at > now):
                yield key, entry
