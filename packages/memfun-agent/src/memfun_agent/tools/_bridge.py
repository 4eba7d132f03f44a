"""The tool bridge: every tool the agent offers, callable synchronously from the REPL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from memfun_agent.tools._changes import ChangeTracker
from memfun_agent.tools._loop import LoopThread
from memfun_agent.tools._mcp import ToolClient, connect_client
from memfun_agent.tools._permissions import PermissionPolicy, PermissionRequest
from memfun_agent.tools._spec import Handler, ToolFailed, ToolSpec
from memfun_core.errors import MemfunError, PermissionDeniedError, ValidationError
from memfun_runtime.protocols import JSONValue

if TYPE_CHECKING:
    import dspy  # pyright: ignore[reportMissingTypeStubs]

__all__ = ["AuditSink", "ToolBridge", "ToolCallObserver", "ToolGuard"]

ToolGuard = Callable[[ToolSpec, Mapping[str, Any]], None]
"""Checks one call's arguments before it runs; raises ``PermissionDeniedError`` to refuse."""

ToolCallObserver = Callable[[Mapping[str, Any]], None]
"""Receives ``{"tool", "arguments", "ok", "result" | "error", "duration", "source"}``."""

AuditSink = Callable[[str, Mapping[str, Any]], object]
"""Appends one audit entry (kind, data), e.g. :class:`memfun_agent.RunAudit`."""

_WRITE_TOOLS = frozenset({"fs_write", "fs_edit", "fs_multi_edit"})
_PREVIEW = 2_000


def result_digest(result: JSONValue) -> dict[str, JSONValue]:
    """``result_sha256`` and ``result_bytes`` of a tool's result, as the audit trail keeps them.

    The digest is of the result's canonical JSON (sorted keys, no spaces, UTF-8), so anyone
    holding the output can check it against the trail; the text itself is not kept there.
    """
    data = json.dumps(
        result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()
    return {"result_sha256": hashlib.sha256(data).hexdigest(), "result_bytes": len(data)}


def _preview(value: JSONValue) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _PREVIEW else f"{text[:_PREVIEW]}... [{len(text)} chars]"


class ToolBridge:
    """Holds the agent's tools and calls them for the sandboxed REPL.

    Each tool is a :class:`ToolSpec` plus an async handler running on the bridge's own
    event loop (MCP sessions live there). :meth:`call` is synchronous, so the sandbox's
    RPC thread can use it directly: it maps positional arguments onto the positional
    parameters only (:attr:`ToolSpec.positional_parameters`; a wrong call's error shows the
    tool's signature), records the arguments as called, checks
    the permission policy, applies the tool's timeout and turns every failure into
    :class:`ToolFailed` with a clear message.

    Args:
        policy: The permission policy (default: destructive tools ask, others run).
        changes: Snapshots files before the file tools change them (for the run's diff).
    """

    def __init__(
        self, *, policy: PermissionPolicy | None = None, changes: ChangeTracker | None = None
    ) -> None:
        self.policy = policy or PermissionPolicy()
        self.changes = changes
        self.observers: list[ToolCallObserver] = []
        self.ask_loop: asyncio.AbstractEventLoop | None = None
        self._loop = LoopThread()
        self._stack = AsyncExitStack()
        self._tools: dict[str, tuple[ToolSpec, Handler]] = {}
        self._closed = False
        self._owner = True
        self._keep: Callable[[ToolSpec], bool] | None = None
        self._guard: ToolGuard | None = None
        self.hidden: list[str] = []
        """Tools left out because this bridge is restricted (a skill's ``allowed-tools``)."""
        self.audit: AuditSink | None = None
        """Receives each tool call and permission decision (restricted views inherit it)."""

    # --- registration --------------------------------------------------------------------

    def add(self, spec: ToolSpec, handler: Handler) -> None:
        """Offer one tool.

        Raises:
            ValidationError: The name is not an identifier or is taken.
        """
        if not spec.name.isidentifier() or spec.name in self._tools:
            raise ValidationError(
                f"is {spec.name!r}", field="tool name", rule="a unique Python identifier"
            )
        if self._keep is not None and not self._keep(spec):
            self.hidden.append(spec.name)
            return
        self._tools[spec.name] = (spec, handler)

    def add_mcp(
        self, client: ToolClient, *, prefix: str, source: str, timeout: float = 60.0
    ) -> list[str]:
        """Connect an MCP client and offer each of its tools as ``<prefix>_<tool>``.

        Returns:
            The names added.
        """
        found = self._loop.run(
            connect_client(self._stack, client, prefix=prefix, source=source, timeout=timeout),
            timeout=timeout + 30.0,
        )
        for spec, handler in found:
            self.add(spec, handler)
        return [spec.name for spec, _ in found]

    def derive(
        self,
        keep: Callable[[ToolSpec], bool],
        *,
        policy: PermissionPolicy | None = None,
        guard: ToolGuard | None = None,
    ) -> ToolBridge:
        """A restricted view sharing this bridge's sessions (a skill's ``allowed-tools``).

        Args:
            keep: Which tools the view offers (tools added later are filtered too).
            policy: The view's permission policy (default: this bridge's).
            guard: Checks each call's arguments (command prefixes, path patterns).

        Closing the view does not close the shared sessions.
        """
        view = ToolBridge(policy=policy or self.policy)
        view._loop.close()
        view._loop, view._stack, view._owner = self._loop, self._stack, False
        view._keep, view._guard = keep, guard
        view.audit = self.audit
        for spec, handler in self._tools.values():
            view.add(spec, handler)
        return view

    # --- lookup --------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The tool names, sorted."""
        return sorted(self._tools)

    def spec(self, name: str) -> ToolSpec:
        """The spec of ``name``."""
        return self._tools[name][0]

    def callables(self) -> dict[str, Callable[..., JSONValue]]:
        """``name -> function`` for the interpreter (positional or keyword arguments)."""
        return {name: self._bound(name) for name in self._tools}

    def dspy_tools(self) -> list[dspy.Tool]:
        """The tools as ``dspy.Tool`` objects (names, descriptions and schemas for the prompt)."""
        import dspy  # pyright: ignore[reportMissingTypeStubs]

        out: list[dspy.Tool] = []
        for name, (spec, _) in sorted(self._tools.items()):
            out.append(
                dspy.Tool(self._bound(name), name=name, desc=spec.description, args=spec.properties)
            )
        return out

    def _bound(self, name: str) -> Callable[..., JSONValue]:
        def tool(*args: Any, **kwargs: Any) -> JSONValue:
            return self.call(name, *args, **kwargs)

        tool.__name__ = name
        tool.__doc__ = self._tools[name][0].description
        return tool

    # --- calling -------------------------------------------------------------------------

    def _arguments(
        self, spec: ToolSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        positional = spec.positional_parameters
        if len(args) > len(positional):
            names = f" ({', '.join(positional)})" if positional else ""
            raise ToolFailed(
                f"{spec.name} takes at most {len(positional)} positional arguments{names}; "
                f"{len(args)} were given. Pass the others by name: {spec.signature()}"
            )
        merged = dict(zip(positional, args, strict=False))
        for key, value in kwargs.items():
            if key in merged:
                raise ToolFailed(
                    f"{spec.name} got two values for {key!r} (positionally and by name). "
                    f"Signature: {spec.signature()}"
                )
            merged[key] = value
        closed = spec.input_schema.get("additionalProperties") is False
        unknown = [key for key in kwargs if closed and key not in spec.parameters]
        missing = [key for key in spec.required if key not in merged]
        if unknown or missing:
            problem = (
                f"has no parameter {', '.join(map(repr, unknown))}"
                if unknown
                else f"is missing {', '.join(map(repr, missing))}"
            )
            raise ToolFailed(f"{spec.name} {problem}. Signature: {spec.signature()}")
        return merged

    def _authorize(self, spec: ToolSpec, arguments: dict[str, Any]) -> None:
        decision = self.policy.decide(spec.name, destructive=spec.destructive)
        if decision == "allow":
            self._audit_permission(spec, arguments, None)
            return
        request = PermissionRequest(spec.name, arguments, spec.destructive)
        check = self.policy.check(request)
        loop = self.ask_loop
        try:
            if decision == "ask" and loop is not None and loop.is_running():
                asyncio.run_coroutine_threadsafe(check, loop).result()
            else:
                self._loop.run(check)
        except PermissionDeniedError as exc:
            self._audit_permission(spec, arguments, exc)
            raise
        self._audit_permission(spec, arguments, None)

    def _audit_permission(
        self, spec: ToolSpec, arguments: dict[str, Any], refused: PermissionDeniedError | None
    ) -> None:
        """Record one decision: what the policy said, by which rule, and whether it ran."""
        if self.audit is None:
            return
        decision, rule = self.policy.explain(spec.name, arguments, destructive=spec.destructive)
        asked = decision == "ask" and self.policy.ask is not None
        data: dict[str, Any] = {
            "tool": spec.name,
            "source": spec.source,
            "arguments": arguments,
            "decision": decision,
            "rule": rule,
            "asked": asked,
            "outcome": "denied" if refused is not None else "allowed",
        }
        if asked:
            data["answer"] = "declined" if refused is not None else "approved"
        if refused is not None:
            data["reason"] = refused.reason
        self.audit("permission", data)

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> JSONValue:
        """Call a tool and return its JSON result.

        Raises:
            ToolFailed: Unknown tool, bad arguments, refused by the policy, timed out, or
                the tool failed (the message carries the tool's own error and hint).
        """
        started = time.monotonic()
        pair = self._tools.get(name)
        if pair is None:
            raise ToolFailed(f"no tool named {name!r}; available: {', '.join(self.names)}")
        spec, handler = pair
        arguments = _as_called(spec, args, kwargs)
        try:
            arguments = self._arguments(spec, args, kwargs)
            if self._guard is not None:
                self._guard(spec, arguments)
            self._authorize(spec, arguments)
            if self.changes is not None and name in _WRITE_TOOLS and "path" in arguments:
                self.changes.before_write(str(arguments["path"]))
            value = self._loop.run(handler(arguments), timeout=spec.timeout)
        except ToolFailed as exc:
            self._notify(spec, arguments, started, error=f"ToolFailed: {exc}")
            raise
        except TimeoutError:
            message = f"{name} timed out after {spec.timeout:g} seconds"
            self._notify(spec, arguments, started, error=message)
            raise ToolFailed(message) from None
        except (MemfunError, PermissionDeniedError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            self._notify(spec, arguments, started, error=message)
            raise ToolFailed(message) from exc
        except Exception as exc:
            message = f"{name} failed: {type(exc).__name__}: {exc}"
            self._notify(spec, arguments, started, error=message)
            raise ToolFailed(message) from exc
        self._notify(spec, arguments, started, result=value)
        return value

    def _notify(
        self,
        spec: ToolSpec,
        arguments: dict[str, Any],
        started: float,
        *,
        result: JSONValue = None,
        error: str | None = None,
    ) -> None:
        record: dict[str, Any] = {
            "tool": spec.name,
            "source": spec.source,
            "arguments": arguments,
            "ok": error is None,
            "duration": round(time.monotonic() - started, 6),
        }
        if error is None:
            record["result"] = _preview(result)
        else:
            record["error"] = error
        for observer in self.observers:
            observer(record)
        if self.audit is not None:
            audited = {key: value for key, value in record.items() if key != "result"}
            audited["arguments"] = {
                key: _preview(value) if isinstance(value, str) else value
                for key, value in arguments.items()
            }
            if error is None:  # what the model was shown, pinned without keeping its text
                audited.update(result_digest(result))
            self.audit("tool_call", audited)

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close every MCP session and stop the loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        try:
            self._loop.run(self._stack.aclose(), timeout=30.0)
        finally:
            self._loop.close()

    def __enter__(self) -> ToolBridge:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _as_called(spec: ToolSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the model wrote them, for the trace even when they do not fit.

    Positional values are named after the parameters they fill; any beyond those are kept
    under ``"*args"`` and a keyword that repeats a positional one under ``"**repeated"``.
    """
    positional = spec.positional_parameters
    called: dict[str, Any] = dict(zip(positional, args, strict=False))
    if len(args) > len(positional):
        called["*args"] = list(args[len(positional) :])
    repeated = {key: value for key, value in kwargs.items() if key in called}
    called.update({key: value for key, value in kwargs.items() if key not in called})
    if repeated:
        called["**repeated"] = repeated
    return called


def describe(specs: Iterable[ToolSpec]) -> str:
    """One line per tool (``- `signature` - description``), for prompts and docs."""
    lines: list[str] = []
    for spec in specs:
        description = " ".join(spec.description.split())
        lines.append(f"- `{spec.signature()}` - {description}")
    return "\n".join(lines)
