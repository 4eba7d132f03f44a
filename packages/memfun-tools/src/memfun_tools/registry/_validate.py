"""Checking a call's arguments against a tool's JSON schema, without pydantic.

The schemas of Memfun's tools use a small part of JSON Schema: ``type`` (one name),
``anyOf``, ``enum``, ``minimum``/``maximum``, ``minItems``, ``items``, ``properties``,
``required``, ``additionalProperties: false`` and ``default``. Values are accepted as
pydantic's lax mode accepted them when the MCP servers were built from annotated functions:
an integer may come as an integral float or a numeric string, a boolean as ``0``/``1`` or
``"true"``/``"no"``..., an array as a list, tuple or set, and a string as UTF-8 bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from memfun_core.errors import ValidationError

__all__ = ["validate_arguments"]

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_TYPE_WORDS = {
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "array": "a valid list",
    "object": "a valid object",
    "null": "null",
}


class _Invalid(Exception):
    """One value breaks its schema (``loc`` is filled in on the way up)."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


def validate_arguments(
    tool: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """The arguments of one call, checked, coerced and completed with defaults.

    Args:
        tool: The tool's name, for the error.
        schema: The tool's input schema (an ``object``).
        arguments: The call's arguments by name.

    Returns:
        Every parameter of the schema by name: the given values (coerced) and the defaults.

    Raises:
        ValidationError: A parameter is missing, unknown, of the wrong type or out of range;
            the message lists every problem and the hint lists the parameters.
    """
    problems: list[tuple[str, str]] = []
    out = _object(schema, arguments, problems, (), top=True)
    if problems:
        first, rest = problems[0], problems[1:]
        message = first[1]
        if rest:
            message += "; " + "; ".join(f"{loc}: {text}" for loc, text in rest)
        raise ValidationError(
            message,
            field=f"{tool}.{first[0]}",
            rule=first[1],
            hint=f"{tool} takes {_parameters_text(schema)}",
        )
    return out


def _parameters_text(schema: Mapping[str, Any]) -> str:
    props = cast("Mapping[str, Any]", schema.get("properties") or {})
    required = set(cast("list[str]", schema.get("required") or []))
    if not props:
        return "no arguments"
    parts = [f"{name}{'' if name in required else '?'}: {_kind(s)}" for name, s in props.items()]
    return ", ".join(parts) + " (? = optional)"


def _kind(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "any"
    node = cast("Mapping[str, Any]", schema)
    if "enum" in node:
        return " | ".join(repr(v) for v in cast("list[Any]", node["enum"]))
    if "anyOf" in node:
        return " | ".join(_kind(s) for s in cast("list[Any]", node["anyOf"]))
    kind = str(node.get("type", "any"))
    if kind == "array":
        return f"array of {_kind(node.get('items'))}"
    return kind


def _where(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _object(
    schema: Mapping[str, Any],
    value: Any,
    problems: list[tuple[str, str]],
    loc: tuple[str | int, ...],
    *,
    top: bool = False,
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.append((_where(loc), f"Input should be {_TYPE_WORDS['object']}"))
        return {}
    given = cast("Mapping[str, Any]", value)
    props = cast("Mapping[str, Any]", schema.get("properties") or {})
    required = cast("list[str]", schema.get("required") or [])
    out: dict[str, Any] = {}
    for name, sub in props.items():
        if name in given:
            try:
                out[name] = _value(sub, given[name], (*loc, name))
            except _Invalid as exc:
                problems.append((_where(exc.loc), exc.message))
        elif name in required:
            text = "Missing required argument" if top else "Field required"
            problems.append((_where((*loc, name)), text))
        elif isinstance(sub, Mapping) and "default" in sub:
            out[name] = cast("Mapping[str, Any]", sub)["default"]
    if schema.get("additionalProperties") is False:
        for name in given:
            if name not in props:
                text = "Unexpected keyword argument" if top else "Extra inputs are not permitted"
                problems.append((_where((*loc, str(name))), text))
    return out


def _value(schema: Any, value: Any, loc: tuple[str | int, ...]) -> Any:
    node: Mapping[str, Any] = (
        cast("Mapping[str, Any]", schema) if isinstance(schema, Mapping) else {}
    )
    if "anyOf" in node:
        return _any_of(cast("list[Any]", node["anyOf"]), value, loc)
    kind: Any = node.get("type")
    if kind is None:
        return value
    checked = _typed(str(kind), node, value, loc)
    if "enum" in node:
        choices = cast("list[Any]", node["enum"])
        if checked not in choices:
            raise _Invalid(f"Input should be {_choices(choices)} (got {value!r})", loc)
    return checked


def _choices(choices: list[Any]) -> str:
    words = [repr(c) for c in choices]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _any_of(options: list[Any], value: Any, loc: tuple[str | int, ...]) -> Any:
    if value is None and any(_is_null(o) for o in options):
        return None
    first: _Invalid | None = None
    for option in options:
        if _is_null(option):
            continue
        try:
            return _value(option, value, loc)
        except _Invalid as exc:
            first = first or exc
    if first is None:
        raise _Invalid(f"Input should be null (got {value!r})", loc)
    if any(_is_null(o) for o in options):
        raise _Invalid(f"{first.message}, or null", first.loc)
    raise first


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and cast("Mapping[str, Any]", schema).get("type") == "null"


def _typed(kind: str, node: Mapping[str, Any], value: Any, loc: tuple[str | int, ...]) -> Any:
    if kind in ("integer", "number"):
        number = _integer(value, loc) if kind == "integer" else _number(value, loc)
        return _bounded(node, number, loc)
    if kind == "array":
        return _array(node, value, loc)
    if kind == "object":
        problems: list[tuple[str, str]] = []
        out = _object(node, value, problems, loc)
        if problems:
            where, text = problems[0]
            raise _Invalid(text, tuple(where.split(".")))
        return out
    scalar = _SCALARS.get(kind)
    if scalar is None:
        raise _Invalid(f"the schema names an unknown type {kind!r}", loc)
    return scalar(value, loc)


def _null(value: Any, loc: tuple[str | int, ...]) -> None:
    if value is not None:
        raise _Invalid(f"Input should be null (got {value!r})", loc)


def _bad_type(kind: str, value: Any, loc: tuple[str | int, ...]) -> _Invalid:
    return _Invalid(
        f"Input should be {_TYPE_WORDS[kind]} (got {type(value).__name__} {value!r})", loc
    )


def _string(value: Any, loc: tuple[str | int, ...]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid("Input should be a valid string (bytes are not UTF-8)", loc) from None
    raise _bad_type("string", value, loc)


def _integer(value: Any, loc: tuple[str | int, ...]) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _Invalid(f"Input should be a valid integer (got the fraction {value!r})", loc)
    if isinstance(value, str | bytes | bytearray):
        text = value.decode("utf-8", "replace") if not isinstance(value, str) else value
        text = text.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None and number.is_integer():
            return int(number)
    raise _bad_type("integer", value, loc)


def _number(value: Any, loc: tuple[str | int, ...]) -> float | int:
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _bad_type("number", value, loc)


def _bounded(node: Mapping[str, Any], number: float, loc: tuple[str | int, ...]) -> Any:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and number < low:
        raise _Invalid(f"Input should be greater than or equal to {low} (got {number!r})", loc)
    if high is not None and number > high:
        raise _Invalid(f"Input should be less than or equal to {high} (got {number!r})", loc)
    return number


def _boolean(value: Any, loc: tuple[str | int, ...]) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _bad_type("boolean", value, loc)


def _array(node: Mapping[str, Any], value: Any, loc: tuple[str | int, ...]) -> list[Any]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise _bad_type("array", value, loc)
    items = list(cast("list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any]", value))
    least = node.get("minItems")
    if least is not None and len(items) < least:
        raise _Invalid(
            f"List should have at least {least} item{'s' if least != 1 else ''}, not {len(items)}",
            loc,
        )
    item_schema = node.get("items")
    if item_schema is None:
        return items
    return [_value(item_schema, item, (*loc, index)) for index, item in enumerate(items)]


_SCALARS: dict[str, Callable[[Any, tuple[str | int, ...]], Any]] = {
    "string": _string,
    "boolean": _boolean,
    "null": _null,
}
