"""What each field of a record may hold, as JSON: checked on every line a snapshot gives.

A snapshot's hash chain has no secret, so it proves a file whole, not who wrote it: a file
edited by hand, or made to be imported, can chain correctly and still hold a string where a
number belongs. Each field's :class:`Shape` is checked when the file is read, so such a
record is refused with its line and field named, before anything is copied; what each value
means (a valid name, a known status) the target's own checks decide, as for any caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from memfun_runtime.protocols import TaskStatus

__all__ = [
    "INTEGER",
    "JSON",
    "NUMBER",
    "OBJECT",
    "OFFSET",
    "OPTIONAL_NUMBER",
    "OPTIONAL_OFFSETS",
    "OPTIONAL_TEXT",
    "STATUS",
    "TEXT",
    "TEXTS",
    "TURNS",
    "Shape",
]

_LIMIT = 2**63  # what every tier stores as an integer
_TURN = ("role", "content", "metadata")
_OFFSET = re.compile(r"[0-9]{1,20}(?:-[0-9]{1,20})?")  # a sequence number or a Redis stream id


@dataclass(frozen=True, slots=True)
class Shape:
    """What one field holds; ``says`` names it in an error (``"an integer"``)."""

    says: str
    holds: Callable[[Any], bool]


def _optional(shape: Shape) -> Shape:
    return Shape(f"{shape.says} or null", lambda v: v is None or shape.holds(v))


def _is_integer(value: Any) -> bool:
    return type(value) is int and -_LIMIT <= value < _LIMIT


def _is_number(value: Any) -> bool:
    return _is_integer(value) or (type(value) is float and math.isfinite(value))


def _is_list_of(value: Any, test: Callable[[Any], bool]) -> bool:
    return isinstance(value, list) and all(test(item) for item in cast("list[Any]", value))


def _is_offset(value: Any) -> bool:
    return isinstance(value, str) and _OFFSET.fullmatch(value) is not None


def _is_turn(value: Any) -> bool:
    if not isinstance(value, list) or len(cast("list[Any]", value)) != len(_TURN):
        return False
    role, content, metadata = cast("list[Any]", value)
    return isinstance(role, str) and isinstance(content, str) and isinstance(metadata, dict)


_STATUSES = frozenset(status.value for status in TaskStatus)

TEXT = Shape("a string", lambda v: isinstance(v, str))
OPTIONAL_TEXT = _optional(TEXT)
TEXTS = Shape("a list of strings", lambda v: _is_list_of(v, TEXT.holds))
INTEGER = Shape("an integer", _is_integer)
NUMBER = Shape("a finite number", _is_number)
OPTIONAL_NUMBER = _optional(NUMBER)
OBJECT = Shape("an object", lambda v: isinstance(v, dict))
JSON = Shape("a JSON value", lambda _: True)
OFFSET = Shape("an offset (digits, or a Redis stream id)", _is_offset)
OPTIONAL_OFFSETS = _optional(Shape("a list of offsets", lambda v: _is_list_of(v, _is_offset)))
TURNS = Shape("a list of [role, content, metadata] turns", lambda v: _is_list_of(v, _is_turn))
STATUS = Shape(
    f"a task status ({', '.join(sorted(_STATUSES))})",
    lambda v: isinstance(v, str) and v in _STATUSES,
)
