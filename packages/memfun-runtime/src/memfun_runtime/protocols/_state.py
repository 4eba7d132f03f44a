"""The key-value state contract: versions, compare-and-set, TTL, counters and prefix scans."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = ["Entry", "StateStore"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value with its version.

    Attributes:
        value: The JSON value.
        version: Positive int, strictly greater after every write of the key while it exists
            (a JetStream KV revision, a Redis counter, a SQLite column). Opaque otherwise:
            do not assume it starts at 1 or grows by 1, and after a delete a recreated key
            may start over.
        expires_at: Unix time when the key expires, or ``None``.
    """

    value: JSONValue
    version: int
    expires_at: float | None = None


@runtime_checkable
class StateStore(Protocol):
    """Versioned keys with compare-and-set, time-to-live, atomic counters and prefix scans.

    Guarantees (every tier):

    * **Linearizable per key.** Each write is atomic; a read returns the latest completed write.
    * **Compare-and-set.** Of N writers racing with the same ``expected_version``, exactly one
      succeeds; the others raise :class:`~memfun_core.errors.ConflictError`.
    * **TTL.** A key written with ``ttl`` reads as absent once ``ttl`` seconds have passed
      (no later than the next read: expiry is checked on access, storage is reclaimed
      later). A write without ``ttl`` clears any previous expiry.
    * **Durability** as the tier: T0 is memory only; the others have committed the write when
      the call returns.

    Keys follow the topic grammar (``.``-separated tokens of ``[A-Za-z0-9_-]``); values are
    JSON. ``ttl`` must be a finite number > 0 or ``None`` — anything else raises
    :class:`~memfun_core.errors.ValidationError`.
    """

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` unconditionally and return the new version."""
        ...

    async def compare_and_set(
        self,
        key: str,
        value: JSONValue,
        *,
        expected_version: int | None,
        ttl: float | None = None,
    ) -> int:
        """Write ``value`` only if the key is at ``expected_version``; return the new version.

        Args:
            key: The key.
            value: The new value.
            expected_version: The version read before; ``None`` means the key must not
                exist (or be expired).
            ttl: Optional time-to-live of the new value.

        Raises:
            ConflictError: The key is at another version (someone else won the race), or
                exists when ``None`` was expected.
        """
        ...

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; return whether a live entry was removed.

        Args:
            key: The key.
            expected_version: When given, delete only at this version.

        Raises:
            ConflictError: ``expected_version`` was given and the key is at another version or
                absent.
        """
        ...

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to an integer value (absent counts as 0); return the result.

        Concurrent increments are never lost. The key keeps its TTL, if any.

        Raises:
            ValidationError: The stored value is not an integer.
        """
        ...

    def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix`` (plain string prefix).

        Order is unspecified. Keys written during the scan may or may not be seen.
        """
        ...
