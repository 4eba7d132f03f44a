"""What the REPL knows about a tool, and the error a failed call raises there."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

from memfun_runtime.protocols import JSONValue

__all__ = ["Handler", "ToolFailed", "ToolSpec"]

Handler: TypeAlias = Callable[[dict[str, Any]], Coroutine[Any, Any, JSONValue]]
"""Runs one call (keyword arguments as a dict) on the bridge's loop and returns JSON."""


class ToolFailed(Exception):
    """A tool call failed; the message says why and, often, what to do instead.

    Inside the sandbox it surfaces as ``ToolError: ToolFailed: <message>``.
    """


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool as the agent offers it.

    Attributes:
        name: The REPL name (a Python identifier, ``fs_read``, ``github_create_issue``).
        description: What it does (shown to the model).
        input_schema: JSON schema of its arguments (an ``object`` with ``properties``).
        destructive: Whether it changes files, the repository or the outside world
            (destructive tools pass the permission policy's ``ask`` by default).
        source: ``memfun`` (our tools), ``mcp:<server>`` or ``agent`` (shell, verify).
        timeout: Seconds a call may take.
        positional: The parameters a call may pass positionally, in order (``None``: the
            leading required parameters of the schema; every other parameter is
            keyword-only, since a JSON schema says nothing about positions).
    """

    name: str
    description: str
    input_schema: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    destructive: bool = False
    source: str = "agent"
    timeout: float = 60.0
    positional: tuple[str, ...] | None = None

    @property
    def parameters(self) -> list[str]:
        """Argument names in schema order (positional calls map onto them)."""
        props = self.input_schema.get("properties")
        return (
            [str(name) for name in cast("dict[str, Any]", props)] if isinstance(props, dict) else []
        )

    @property
    def properties(self) -> dict[str, Any]:
        """The ``properties`` of the argument schema."""
        props = self.input_schema.get("properties")
        return dict(cast("dict[str, Any]", props)) if isinstance(props, dict) else {}

    @property
    def required(self) -> list[str]:
        """The parameters a call must give."""
        required = self.input_schema.get("required")
        return [str(n) for n in cast("list[Any]", required)] if isinstance(required, list) else []

    @property
    def positional_parameters(self) -> list[str]:
        """The parameters positional arguments fill, in order (see ``positional``)."""
        params = self.parameters
        if self.positional is not None:
            return [name for name in self.positional if name in params]
        required = set(self.required)
        leading: list[str] = []
        for name in params:
            if name not in required:
                break
            leading.append(name)
        return leading

    def signature(self) -> str:
        """The call as Python would write it: ``search_text(pattern: str, *, path: str = '.')``."""
        props = self.properties
        required = set(self.required)
        positional = self.positional_parameters
        parts = [_parameter(name, props[name], name in required) for name in positional]
        keyword = [name for name in self.parameters if name not in positional]
        if keyword:
            parts.append("*")
            parts += [_parameter(name, props[name], name in required) for name in keyword]
        return f"{self.name}({', '.join(parts)})"


_JSON_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "object": "dict",
    "null": "None",
}


def _type_text(schema: Any) -> str:
    if not isinstance(schema, dict):
        return "Any"
    node = cast("dict[str, Any]", schema)
    if "enum" in node:
        return " | ".join(repr(v) for v in cast("list[Any]", node["enum"]))
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            return " | ".join(_type_text(s) for s in cast("list[Any]", node[key]))
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(_JSON_TYPES.get(str(k), str(k)) for k in cast("list[Any]", kind))
    if kind == "array":
        return f"list[{_type_text(node.get('items'))}]" if "items" in node else "list"
    return _JSON_TYPES.get(str(kind), "Any") if kind is not None else "Any"


def _parameter(name: str, schema: Any, required: bool) -> str:
    text = f"{name}: {_type_text(schema)}"
    if required:
        return text
    default = cast("dict[str, Any]", schema).get("default") if isinstance(schema, dict) else None
    return f"{text} = {default!r}"
