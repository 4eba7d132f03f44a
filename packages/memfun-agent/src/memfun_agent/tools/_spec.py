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
    """

    name: str
    description: str
    input_schema: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    destructive: bool = False
    source: str = "agent"
    timeout: float = 60.0

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
