"""What every tier's state store shares: the argument checks, the conflict and counter errors.

Each public method checks its arguments (so all tiers accept and refuse the same input) and
calls the tier's hook, which only talks to its store.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.protocols import Entry, JSONValue, StateStore

__all__ = ["StateStoreBase", "conflict", "expect", "not_an_integer"]


class StateStoreBase(StateStore):
    """Base of the in-tree state stores: checks the arguments, then calls the tier's hooks.

    Values reach the hooks as their JSON text (:func:`~memfun_runtime._codec.encode_json`),
    ttls as checked seconds or ``None``, expected versions as checked ints or ``None``.
    """

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None`` when absent or expired."""
        return await self._get(_codec.check_name(key, field="key"))

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` unconditionally and return the new version."""
        _codec.check_name(key, field="key")
        text = _codec.encode_json(value, field="value")
        return await self._set(key, text, _codec.check_ttl(ttl))

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
        return await self._cas(key, text, seconds, _expected(expected_version))

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; return whether a live entry was removed."""
        _codec.check_name(key, field="key")
        return await self._delete(key, _expected(expected_version))

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to an integer value (absent counts as 0); return the result."""
        _codec.check_name(key, field="key")
        if isinstance(delta, bool) or not isinstance(delta, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(f"must be an int, got {delta!r}", field="delta", rule="an int")
        return await self._increment(key, delta)

    def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix``."""
        return self._scan(_codec.check_prefix(prefix))

    # --- the tier's hooks -------------------------------------------------------------------

    @abc.abstractmethod
    async def _get(self, key: str) -> Entry | None: ...

    @abc.abstractmethod
    async def _set(self, key: str, text: str, ttl: float | None) -> int: ...

    @abc.abstractmethod
    async def _cas(self, key: str, text: str, ttl: float | None, expected: int | None) -> int:
        """Write at ``expected`` (``None``: absent) or raise :func:`conflict`."""

    @abc.abstractmethod
    async def _delete(self, key: str, expected: int | None) -> bool:
        """Delete (at ``expected`` when given, else raise :func:`conflict`)."""

    @abc.abstractmethod
    async def _increment(self, key: str, delta: int) -> int:
        """Add ``delta``, keeping the ttl; raise :func:`not_an_integer` for other values."""

    @abc.abstractmethod
    def _scan(self, prefix: str) -> AsyncIterator[tuple[str, Entry]]: ...


def _expected(version: int | None) -> int | None:
    if version is None:
        return None
    return _codec.check_int(version, field="expected_version", minimum=0)


def conflict(key: str, expected: int | None, found: int | str | None) -> ConflictError:
    """The error of a compare-and-set or a conditional delete that found another version.

    Args:
        key: The key.
        expected: The version the caller expected (``None``: absent).
        found: The version found (``None``: absent), or what happened instead, in words.
    """
    wanted = "absent" if expected is None else f"at version {expected}"
    if not isinstance(found, str):
        found = "it is absent" if found is None else f"it is at version {found}"
    return ConflictError(
        f"state key {key!r} was expected {wanted} but {found}",
        hint="read the key again and retry with its current version",
    )


def expect(key: str, expected: int | None, current: int | None) -> None:
    """Raise :func:`conflict` unless the key's ``current`` version is ``expected``."""
    if current != expected:
        raise conflict(key, expected, current)


def not_an_integer(
    key: str, stored: object, *, rule: str = "increment needs an integer value"
) -> ValidationError:
    """The error of an increment of a key that holds something else than an integer."""
    return ValidationError(
        f"key {key!r} holds {repr(stored)[:80]}, not an integer",
        field="key",
        rule=rule,
        hint=f"set {key!r} to an integer or use another key for the counter",
    )
