"""The one place where payloads are serialized and arguments are validated.

Every backend encodes values with :func:`encode_json`, decodes stored text with
:func:`decode_json`, and checks every topic, queue, key, group, id and the other arguments
the protocols share with the ``check_*`` functions here, so that all tiers accept and refuse
exactly the same input. A ``check_*`` function returns the checked value or raises
:class:`~memfun_core.errors.ValidationError` naming the argument (its ``field``).

Names follow NATS subject rules without wildcards, so they map one-to-one onto every tier:
tokens of ``[A-Za-z0-9_-]`` separated by single dots (``orders.created``), at most
:data:`MAX_NAME_LENGTH` characters. Group and consumer names are single tokens.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast, get_args

import orjson

from memfun_core.errors import CorruptDataError, ValidationError
from memfun_runtime.protocols import InvocationOutcome

__all__ = [
    "MAX_NAME_LENGTH",
    "check_capabilities",
    "check_group",
    "check_headers",
    "check_id",
    "check_int",
    "check_metadata",
    "check_name",
    "check_non_negative",
    "check_outcome",
    "check_positive",
    "check_prefix",
    "check_ttl",
    "check_version",
    "copy_json",
    "decode_json",
    "encode_json",
    "new_id",
    "turn_window",
]

MAX_NAME_LENGTH = 200
"""Longest topic, queue, key or id, leaving room for a namespace and ``.dead`` suffixes."""
_MAX_TOKEN_LENGTH = 64
_MAX_HEADER_VALUE = 4096

_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_PREFIX = re.compile(r"[A-Za-z0-9_.-]*")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ':' and space

_NAME_RULE = "tokens of letters, digits, '_' or '-' separated by single dots"
_NAME_HINT = "use a name like 'orders.created' (no spaces, wildcards or empty tokens)"

# ASCII only: a str with a lone surrogate (which orjson refuses) is written as a \u escape,
# so every tier can store the text as UTF-8 and reads the same str back.
_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))
_decoder = json.JSONDecoder()
# The C scanner behind JSONDecoder (an undocumented but stable attribute since Python 3.1).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(_decoder, "scan_once")  # noqa: B009


_ID_BATCH = 256
_ids: list[str] = []
# A forked child must not hand out the ids its parent has already drawn.
os.register_at_fork(after_in_child=_ids.clear)


def new_id() -> str:
    """Return a fresh random id (32 hex digits, 128 random bits) that passes :func:`check_name`.

    The bits are drawn 256 ids at a time (one system call, not 256); ``list.pop`` is atomic,
    so threads never share an id.
    """
    try:
        return _ids.pop()
    except IndexError:
        digits = os.urandom(16 * _ID_BATCH).hex()
        _ids.extend(digits[i : i + 32] for i in range(0, len(digits), 32))
        return _ids.pop()


def encode_json(value: Any, *, field: str = "payload") -> str:
    """Serialize ``value`` to compact JSON text.

    Plain values (as :func:`copy_json` checks them) are written by orjson, about ten times
    faster than the standard library on a 10 KB payload; anything else takes the standard
    library's path, so what is accepted and refused, and what the text decodes to, are the
    standard library's rules either way.

    Raises:
        ValidationError: Not JSON-serializable; the error names the offending path
            (``payload["items"][2]``) and type, and ``field``.
    """
    try:
        plain = _copy(value, 0)
    except _NeedsJSON:
        return _encode_with_stdlib(value, field)
    try:
        return orjson.dumps(plain).decode()
    except orjson.JSONEncodeError:  # lone surrogates, ints orjson cannot hold
        return _encode_with_stdlib(value, field)


def _encode_with_stdlib(value: Any, field: str) -> str:
    try:
        if isinstance(value, str):
            return _encoder.encode(value)
        return "".join(_encoder.iterencode(value, _one_shot=True))
    except (TypeError, ValueError, RecursionError) as exc:
        path, problem = _find_problem(value, field, set())
        raise ValidationError(
            f"{problem} at {path}",
            field=field,
            rule="must be JSON: null, bool, int, finite float, str, list, dict with str keys",
            hint="convert the value to plain JSON types before passing it",
        ) from exc


_INT_LIMIT = 1 << 64
"""Ints at or beyond this magnitude take the JSON path (which refuses > 4300 digits)."""
_MAX_COPY_DEPTH = 100
"""Deeper values take the JSON path, which reports cycles and over-deep nesting."""


class _NeedsJSON(Exception):
    """Raised inside :func:`_copy` when only a JSON round trip gives the exact answer."""


def copy_json(value: Any, *, field: str = "payload") -> Any:
    """Return what ``decode_json(encode_json(value))`` returns, without the text in between.

    The in-process tier keeps payloads as Python values: a deep copy (immutable leaves
    shared) means later changes by the publisher or a consumer are seen by nobody else. Its
    cost grows with the number of items, not the length of strings. Anything but plain
    ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` (tuples, subclasses,
    non-str keys, huge ints, deep nesting) takes the JSON round trip itself, so the result
    and the errors are always those of a tier that stores text.
    """
    try:
        return _copy(value, 0)
    except _NeedsJSON:
        return decode_json(encode_json(value, field=field), backend="codec", location=field)


def _copy(value: Any, depth: int) -> Any:
    kind = type(value)  # pyright: ignore[reportUnknownVariableType] - no cast(): hot path
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value
        raise _NeedsJSON
    if kind is float:
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            return value
        raise _NeedsJSON
    if depth >= _MAX_COPY_DEPTH:
        raise _NeedsJSON
    depth += 1
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if type(key) is not str:  # pyright: ignore[reportUnknownArgumentType]
                raise _NeedsJSON
            # Strings and small ints inline: the common leaves skip a call.
            leaf = type(item)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if leaf is str or (leaf is int and -_INT_LIMIT < item < _INT_LIMIT):
                out[key] = item
            else:
                out[key] = _copy(item, depth)
        return out
    if kind is list:
        return [item if type(item) is str else _copy(item, depth) for item in value]
    raise _NeedsJSON


_OK = "unsupported value"


def _find_problem(value: Any, path: str, seen: set[int]) -> tuple[str, str]:
    """Locate the first part of ``value`` that JSON cannot represent."""
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"{value!r} is not a finite number"
    if value is None or isinstance(value, bool | int | float | str):
        return path, _OK
    if not isinstance(value, list | tuple | dict):
        return path, f"object of type {type(value).__name__} is not JSON-serializable"
    marker = id(cast("object", value))
    if marker in seen:
        return path, "circular reference"
    seen.add(marker)
    found = _find_in_items(value, path, seen)
    seen.discard(marker)
    return found


def _find_in_items(value: Any, path: str, seen: set[int]) -> tuple[str, str]:
    is_dict = isinstance(value, dict)
    items: list[tuple[object, Any]]
    if is_dict:
        items = list(cast("dict[object, Any]", value).items())
    else:
        items = list(enumerate(cast("list[Any]", value)))
    for key, item in items:
        where = f"{path}[{key!r}]"
        if is_dict and not isinstance(key, str):
            return where, f"key of type {type(key).__name__} is not a str"
        found = _find_problem(item, where, seen)
        if found[1] != _OK:
            return found
    return path, _OK


def parse_json(text: str | bytes) -> Any:
    """Parse JSON text as :func:`decode_json` does, raising ``ValueError`` when it is not JSON.

    For hot paths that build :func:`decode_json`'s error (and its location) only on failure.
    """
    string = text if isinstance(text, str) else text.decode("utf-8")
    try:  # fast path: the C scanner on compact text, as encode_json writes it
        value, end = _scan(string, 0)
        if end == len(string):
            return value
    except StopIteration:
        pass
    return _decoder.decode(string)


def decode_json(text: str | bytes, *, backend: str, location: str) -> Any:
    """Parse stored JSON text.

    Raises:
        CorruptDataError: The stored text is not valid JSON (the store was damaged or
            written by something else).
    """
    try:
        return parse_json(text)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise CorruptDataError(
            f"stored value is not valid JSON: {exc}",
            backend=backend,
            location=location,
            hint="the data was damaged or written by another program; restore it from a backup",
        ) from exc


# --- names -----------------------------------------------------------------------------------


def check_id(value: str | None, *, field: str) -> str:
    """Return ``value`` checked by :func:`check_name`, or a :func:`new_id` when it is ``None``."""
    return new_id() if value is None else check_name(value, field=field)


def check_name(value: object, *, field: str) -> str:
    """Return ``value`` if it is a legal topic, queue, key or id; raise otherwise.

    Raises:
        ValidationError: Not a string, empty, too long, or breaks the token grammar.
    """
    if not isinstance(value, str):
        raise ValidationError(
            f"must be a str, not {type(value).__name__}", field=field, rule=_NAME_RULE
        )
    if _is_legal_name(value):
        return value
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"is {len(value)} characters long (at most {MAX_NAME_LENGTH})",
            field=field,
            rule=_NAME_RULE,
            hint="use a shorter name",
        )
    if _NAME.fullmatch(value) is None:
        raise ValidationError(
            f"{value!r} is not a legal name", field=field, rule=_NAME_RULE, hint=_NAME_HINT
        )
    return value


@functools.lru_cache(maxsize=4096)
def _is_legal_name(value: str) -> bool:
    return len(value) <= MAX_NAME_LENGTH and _NAME.fullmatch(value) is not None


def check_group(value: object, *, field: str = "group") -> str:
    """Return ``value`` if it is a legal group or consumer name: one token, <= 64 chars.

    Raises:
        ValidationError: Not a single token of ``[A-Za-z0-9_-]``.
    """
    rule = "one token of letters, digits, '_' or '-' (no dots), at most 64 characters"
    return _matching(value, _TOKEN, _MAX_TOKEN_LENGTH, "name", field, rule, "use e.g. 'workers'")


def check_prefix(value: object, *, field: str = "prefix") -> str:
    """Return ``value`` if it can start a legal name (may be empty or end with a dot).

    Raises:
        ValidationError: It contains characters no name can contain.
    """
    return _matching(value, _PREFIX, MAX_NAME_LENGTH, "prefix", field, _NAME_RULE, _NAME_HINT)


def check_version(value: object, *, field: str = "version") -> str:
    """Return ``value`` if it is a legal version string (``1.2.0``, ``2024-05-01``).

    Raises:
        ValidationError: Empty, longer than 64, or outside ``[A-Za-z0-9._-]``.
    """
    rule = "letters, digits, '.', '_' or '-', starting with a letter or digit"
    return _matching(value, _VERSION, _MAX_TOKEN_LENGTH, "version", field, rule, "use e.g. '1.2.0'")


def _matching(  # noqa: PLR0917 - one private call shape for the three checks above
    value: object, pattern: re.Pattern[str], limit: int, what: str, field: str, rule: str, hint: str
) -> str:
    if not isinstance(value, str) or len(value) > limit or pattern.fullmatch(value) is None:
        raise ValidationError(f"{value!r} is not a legal {what}", field=field, rule=rule, hint=hint)
    return value


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Return a copy of ``headers`` after checking names and values.

    Raises:
        ValidationError: A name with ':' or whitespace, or a value that is not a one-line str.
    """
    if headers is None:
        return {}
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or _HEADER_NAME.fullmatch(name) is None:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"{name!r} is not a legal header name",
                field="headers",
                rule="printable ASCII without ':' or spaces",
            )
        if (
            not isinstance(value, str)  # pyright: ignore[reportUnnecessaryIsInstance]
            or "\r" in value
            or "\n" in value
            or len(value) > _MAX_HEADER_VALUE
        ):
            raise ValidationError(
                f"value of header {name!r} must be a one-line str of at most "
                f"{_MAX_HEADER_VALUE} characters",
                field="headers",
                rule="one-line str values",
            )
        checked[name] = value
    return checked


def check_metadata(metadata: Mapping[str, Any] | None, *, field: str = "metadata") -> str:
    """Check that ``metadata`` is a str-keyed JSON mapping and return its JSON text.

    Raises:
        ValidationError: Not a mapping, or not JSON-serializable.
    """
    if metadata is None:
        return "{}"
    if not isinstance(metadata, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValidationError(
            f"must be a mapping, not {type(metadata).__name__}",
            field=field,
            rule="a dict with str keys and JSON values",
        )
    return encode_json(dict(metadata), field=field)


# --- numbers ---------------------------------------------------------------------------------


def check_ttl(ttl: float | None, *, field: str = "ttl") -> float | None:
    """Return ``ttl`` as a float if it is ``None`` or a finite number of seconds > 0.

    Raises:
        ValidationError: Zero, negative, infinite, NaN or not a number.
    """
    if ttl is None:
        return None
    return check_positive(ttl, field=field)


def check_positive(value: float, *, field: str) -> float:
    """Return ``value`` as a float if it is a finite number > 0."""
    number = _number(value, field=field)
    if not number > 0:
        raise ValidationError(
            f"must be > 0, got {value!r}",
            field=field,
            rule="a finite number of seconds greater than zero",
            hint=f"pass a positive {field}",
        )
    return number


def check_non_negative(value: float, *, field: str) -> float:
    """Return ``value`` as a float if it is a finite number >= 0."""
    number = _number(value, field=field)
    if number < 0:
        raise ValidationError(
            f"must be >= 0, got {value!r}",
            field=field,
            rule="a finite number greater than or equal to zero",
        )
    return number


def check_int(value: int, *, field: str, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[minimum, maximum]``."""
    upper = "" if maximum is None else f" and <= {maximum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)  # pyright: ignore[reportUnnecessaryIsInstance]
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        raise ValidationError(
            f"must be an int >= {minimum}{upper}, got {value!r}",
            field=field,
            rule=f"an int >= {minimum}{upper}",
        )
    return value


def _number(value: float, *, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValidationError(
            f"must be a number, not {type(value).__name__}", field=field, rule="a finite number"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"must be finite, got {value!r}", field=field, rule="a finite number")
    return number


# --- arguments of the registries and the session store ----------------------------------


_OUTCOMES: tuple[str, ...] = get_args(InvocationOutcome)


def check_capabilities(capabilities: object) -> frozenset[str]:
    """Return the capabilities as a frozenset after checking each name.

    Raises:
        ValidationError: Not a collection of names (a bare str is refused).
    """
    if isinstance(capabilities, str) or not isinstance(
        capabilities, frozenset | set | tuple | list
    ):
        raise ValidationError(
            f"must be a set, tuple or list of names, not {type(capabilities).__name__}",
            field="capabilities",
            rule="a collection of names",
        )
    items: list[object] = list(cast("Iterable[object]", capabilities))
    return frozenset(check_name(c, field="capabilities") for c in items)


def check_outcome(outcome: object) -> InvocationOutcome:
    """Return ``outcome`` if it is a known invocation outcome."""
    if outcome not in _OUTCOMES:
        raise ValidationError(
            f"{outcome!r} is not an outcome",
            field="outcome",
            rule="one of " + ", ".join(_OUTCOMES),
        )
    return cast("InvocationOutcome", outcome)


def turn_window(count: int, *, last: int | None, start: int, end: int | None) -> range:
    """Validate a windowed read of a session with ``count`` turns and return its index range.

    Raises:
        ValidationError: ``last`` with ``start``/``end``, or negative bounds.
    """
    if last is not None:
        if start != 0 or end is not None:
            raise ValidationError(
                "give last, or start/end, not both", field="last", rule="one kind of window"
            )
        check_int(last, field="last", minimum=0)
        return range(max(count - last, 0), count)
    check_int(start, field="start", minimum=0)
    if end is not None:
        check_int(end, field="end", minimum=0)
    stop = count if end is None else min(end, count)
    return range(min(start, stop), stop)
