"""Memfun's own tools, each declared once: name, description, schema, hints and function.

A :class:`ToolDef` is everything a caller needs to offer a tool: the agent's tool bridge
calls :meth:`ToolDef.invoke` directly (no MCP session, no FastMCP, no pydantic), and the
MCP servers of ``memfun mcp serve`` are built from the same definitions
(:func:`memfun_tools.registry.mcp_server`), so both see the same names, descriptions,
schemas, argument checks, results and error texts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from memfun_core.errors import NotFoundError, ValidationError
from memfun_tools.registry._validate import validate_arguments

__all__ = ["ToolDef", "ToolHints", "ToolRegistry", "to_json", "to_json_text"]

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ToolHints:
    """What a tool does to the world (MCP's tool annotations).

    Attributes:
        read_only: It changes nothing.
        destructive: Its changes may overwrite or lose something (writes, commits).
        idempotent: Calling it twice with the same arguments does no more than once.
        open_world: It reaches outside the workspace (the web).
    """

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = False


READ_ONLY = ToolHints(read_only=True, destructive=False, idempotent=True)
DESTRUCTIVE = ToolHints(read_only=False, destructive=True, idempotent=False)
DESTRUCTIVE_IDEMPOTENT = ToolHints(read_only=False, destructive=True, idempotent=True)
READ_ONLY_WEB = ToolHints(read_only=True, destructive=False, idempotent=True, open_world=True)


@dataclass(frozen=True, slots=True)
class ToolDef:
    """One tool, declared once.

    Attributes:
        namespace: The family (``fs``, ``search``, ``git``, ``repomap``, ``web``).
        name: The name inside the family (``read``); callers see ``<namespace>_<name>``.
        description: What it does (shown to the model and to MCP clients).
        input_schema: The JSON schema of its arguments (an ``object``).
        hints: Read-only, destructive, idempotent, open-world.
        result_type: The dataclass it returns (MCP's output schema is derived from it).
        function: Runs one call with every argument by name (checked and defaulted).
        title: A display title (MCP clients derive one from the name when absent).
    """

    namespace: str
    name: str
    description: str
    input_schema: Mapping[str, Any]
    hints: ToolHints
    result_type: type
    function: Callable[..., Awaitable[object]] = field(repr=False, compare=False)
    title: str | None = None

    @property
    def full_name(self) -> str:
        """``<namespace>_<name>``, as the gateway and the agent call it."""
        return f"{self.namespace}_{self.name}"

    @property
    def destructive(self) -> bool:
        """Whether the permission policy treats it as destructive (it changes something)."""
        return not self.hints.read_only and self.hints.destructive

    def check(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments checked, coerced and completed with the defaults.

        Raises:
            ValidationError: A parameter is missing, unknown, of the wrong type or out of
                range (every problem is named).
        """
        return validate_arguments(self.full_name, self.input_schema, arguments)

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Check the arguments, run the tool and return its result as JSON values.

        Raises:
            MemfunError: A bad argument (``ValidationError``) or the tool's own error.
        """
        value = await self.function(**self.check(arguments))
        return to_json(value)


class ToolRegistry:
    """The tools of one workspace (or of the web), with what they hold open.

    Iterating yields the definitions in order. :meth:`aclose` releases what the tools opened
    (the repo map's cache); a closed registry may be used again (the cache reopens).

    Args:
        tools: The definitions; full names must be unique.
        closers: Async callables run by :meth:`aclose`, in order.
    """

    def __init__(self, tools: Iterable[ToolDef], *, closers: Sequence[Closer] = ()) -> None:
        self._tools: dict[str, ToolDef] = {}
        for tool in tools:
            if tool.full_name in self._tools:
                raise ValidationError(
                    f"is {tool.full_name!r} twice", field="tool name", rule="unique names"
                )
            self._tools[tool.full_name] = tool
        self._closers = list(closers)

    def __iter__(self) -> Iterator[ToolDef]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> list[str]:
        """The full names, in declaration order."""
        return list(self._tools)

    def get(self, name: str) -> ToolDef:
        """The tool named ``name`` (full name).

        Raises:
            NotFoundError: No such tool.
        """
        tool = self._tools.get(name)
        if tool is None:
            raise NotFoundError(
                "tool", name, hint=f"the tools are: {', '.join(self._tools) or 'none'}"
            )
        return tool

    def merged(self, other: ToolRegistry) -> ToolRegistry:
        """One registry with this one's tools and then ``other``'s (closed together)."""
        return ToolRegistry([*self, *other], closers=[*self._closers, *other._closers])

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Run the tool ``name`` with ``arguments`` (see :meth:`ToolDef.invoke`)."""
        return await self.get(name).invoke(arguments)

    async def aclose(self) -> None:
        """Release what the tools hold open (idempotent; they reopen on the next call)."""
        for close in self._closers:
            await close()


def to_json(value: object) -> Any:
    """A tool's result as JSON values: dataclasses become objects, tuples lists.

    Raises:
        InternalError: The value holds something JSON cannot carry.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {str(key): to_json(item) for key, item in items}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in cast("Sequence[object]", value)]
    from memfun_core.errors import InternalError

    raise InternalError(f"a tool returned a {type(value).__name__}, which JSON cannot carry")


def to_json_text(value: Any) -> str:
    """``value`` (JSON values) as compact JSON text, as MCP's text content carries it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
