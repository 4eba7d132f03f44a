"""Short constructors for the JSON schemas of the tools' arguments.

They write the schemas the MCP servers published when FastMCP derived them from annotated
functions (pydantic's JSON schema, titles pruned), so MCP clients see the same tool list.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["array", "boolean", "integer", "nullable", "params", "string"]

_UNSET: Any = object()


def _with(node: dict[str, Any], description: str | None, default: Any) -> dict[str, Any]:
    if description is not None:
        node["description"] = description
    if default is not _UNSET:
        node["default"] = default
    return node


def string(description: str | None = None, *, default: Any = _UNSET) -> dict[str, Any]:
    """A string (with a default when optional)."""
    return _with({"type": "string"}, description, default)


def integer(
    description: str | None = None,
    *,
    ge: int | None = None,
    le: int | None = None,
    default: Any = _UNSET,
) -> dict[str, Any]:
    """An integer, optionally bounded (``ge`` <= value <= ``le``)."""
    node: dict[str, Any] = {"type": "integer"}
    if ge is not None:
        node["minimum"] = ge
    if le is not None:
        node["maximum"] = le
    return _with(node, description, default)


def boolean(*, default: bool) -> dict[str, Any]:
    """A boolean flag with its default."""
    return {"type": "boolean", "default": default}


def array(
    items: Mapping[str, Any], description: str | None = None, *, min_items: int | None = None
) -> dict[str, Any]:
    """A list of ``items``."""
    node: dict[str, Any] = {"type": "array", "items": dict(items)}
    if min_items is not None:
        node["minItems"] = min_items
    return _with(node, description, _UNSET)


def nullable(inner: Mapping[str, Any], description: str | None = None) -> dict[str, Any]:
    """``inner`` or null, null by default."""
    return _with({"anyOf": [dict(inner), {"type": "null"}]}, description, None)


def params(required: tuple[str, ...] = (), **properties: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments object: ``properties`` in call order, no others allowed."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: copy.deepcopy(dict(node)) for name, node in properties.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema
