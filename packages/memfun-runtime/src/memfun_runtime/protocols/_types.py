"""Types shared by every protocol."""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["JSONValue"]

JSONValue: TypeAlias = Any
"""A value that survives a JSON round trip: ``None``, ``bool``, ``int``, ``float`` (finite),
``str``, and lists and ``str``-keyed dicts of those. Tuples come back as lists, and dict
keys that are ``int``, ``float``, ``bool`` or ``None`` come back as strings (as with
:func:`json.dumps`).

Every backend serializes through :mod:`memfun_runtime._codec`, which refuses anything else
with a :class:`~memfun_core.errors.ValidationError` naming the offending field.
"""
