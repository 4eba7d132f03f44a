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

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.nats._client import NatsClient
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.protocols import Entry, JSONValue, StateStore

__all__ = ["NatsStateStore"]

_Live = tuple[Any, int, float | None]


def _conflict(key: str, detail: str) -> ConflictError:
    return ConflictError(
        f"compare-and-set on {key!r} lost: {detail}",
        hint="read the key again and retry with its current version",
    )


def _unpack(stored: Any) -> tuple[Any, float | None]:
    """Split a stored ``{"v": value, "e": expires_at}`` record."""
    if not isinstance(stored, dict):
        return None, None
    record = cast("dict[str, Any]", stored)
    expires = record.get("e")
    return record.get("v"), None if expires is None else float(expires)


class NatsStateStore(StateStore):
    """:class:`~memfun_runtime.protocols.StateStore` on the KV bucket ``<ns>_state``."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "state")

    @property
    def bucket(self) -> Bucket:
        """The KV bucket."""
        return self._bucket

    async def _live(self, key: str) -> tuple[_Live | None, int | None]:
        """Return the live ``(value, revision, expires_at)`` and the raw revision, if any."""
        record = await self._bucket.get(key)
        if record is None:
            return None, None
        value, expires = _unpack(record[0])
        revision = record[1]
        if expires is not None and expires <= time.time():
            await self._bucket.delete(key, revision)
            return None, revision
        return (value, revision, expires), revision

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None``."""
        _codec.check_name(key, field="key")
        live, _ = await self._live(key)
        if live is None:
            return None
        value, revision, expires = live
        return Entry(value=value, version=revision, expires_at=expires)

    @staticmethod
    def _record(value: JSONValue, ttl: float | None) -> dict[str, Any]:
        _codec.encode_json(value, field="value")
        expires = None if ttl is None else time.time() + ttl
        return {"v": value, "e": expires}

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` unconditionally and return the new version."""
        _codec.check_name(key, field="key")
        record = self._record(value, _codec.check_ttl(ttl))
        return await self._bucket.put(key, record)

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
        if expected_version is not None:
            _codec.check_int(expected_version, field="expected_version", minimum=0)
        record = self._record(value, _codec.check_ttl(ttl))
        if expected_version is None:
            created = await self._bucket.create(key, record)
            if created is not None:
                return created
            live, _ = await self._live(key)
            if live is not None:
                raise _conflict(key, "the key exists")
            written = await self._bucket.create(key, record)
            if written is None:
                raise _conflict(key, "another writer created it first")
            return written
        live, _ = await self._live(key)
        if live is None or live[1] != expected_version:
            found = "absent" if live is None else f"at version {live[1]}"
            raise _conflict(key, f"expected version {expected_version}, the key is {found}")
        written = await self._bucket.update(key, record, expected_version)
        if written is None:
            raise _conflict(key, "another writer changed it first")
        return written

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        _codec.check_name(key, field="key")
        while True:
            live, _ = await self._live(key)
            if live is None:
                if expected_version is not None:
                    raise _conflict(key, f"expected version {expected_version}, the key is absent")
                return False
            revision = live[1]
            if expected_version is not None and revision != expected_version:
                raise _conflict(key, f"expected version {expected_version}, found {revision}")
            if await self._bucket.delete(key, revision):
                return True
            if expected_version is not None:
                raise _conflict(key, "another writer changed it first")

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` (a revision-checked read-modify-write, retried on races)."""
        _codec.check_name(key, field="key")
        _codec.check_int(delta, field="delta", minimum=-(2**63))
        while True:
            live, _ = await self._live(key)
            if live is None:
                if await self._bucket.create(key, {"v": delta, "e": None}) is not None:
                    return delta
                continue
            value, revision, expires = live
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(
                    f"the value of {key!r} is not an integer ({type(value).__name__})",
                    field="key",
                    rule="increment needs an int value",
                    hint="set the key to an int first, or use another key",
                )
            total = value + delta
            if await self._bucket.update(key, {"v": total, "e": expires}, revision) is not None:
                return total

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix``."""
        _codec.check_prefix(prefix)
        cut = prefix.rfind(".")
        pattern = ">" if cut < 0 else f"{prefix[: cut + 1]}>"
        if cut == 0:
            return
        now = time.time()
        async for key, stored, revision in self._bucket.items(pattern):
            if not key.startswith(prefix):
                continue
            value, expires = _unpack(stored)
            if expires is not None and expires <= now:
                continue
            yield key, Entry(value=value, version=revision, expires_at=expires)
