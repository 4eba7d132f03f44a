"""The host side of the REPL wire protocol (see ``_worker/repl_worker.py``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import inspect
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

from memfun_core.errors import BackendError, ConflictError, NotFoundError, ValidationError
from memfun_runtime.protocols import IsolationLevel, JSONValue, ReplOutcome, ReplSession
from memfun_runtime.sandboxes._worker.repl_worker import IMMUTABLE, jsonable

__all__ = ["SandboxTerminated", "StreamReplSession", "ToolAuthorizer"]

ToolAuthorizer = Callable[[str, Mapping[str, Any]], None]
"""Called on the host before each tool call from inside (name, ``{"args", "kwargs"}``);
raise :class:`~memfun_core.errors.PermissionDeniedError` to refuse it."""

_log = logging.getLogger("memfun.sandbox")
_MAX_MESSAGE = 256 * 1024 * 1024
#: Seconds a soft timeout has to take effect (an interrupt inside the sandbox) before the
#: whole sandbox is killed; generous, because a loaded machine delays the interrupt.
_HARD_GRACE = 5.0
_START_TIMEOUT = 30.0
_OUTCOME_KINDS = frozenset({"result", "final", "error", "syntax_error"})


def _is_tool_call(message: dict[str, Any]) -> bool:
    return (
        message.get("type") == "tool_call"
        and isinstance(message.get("name"), str)
        and isinstance(message.get("args", []), list | None)
        and isinstance(message.get("kwargs", {}), dict | None)
    )


def _is_outcome(message: dict[str, Any], call: int) -> bool:
    """Whether ``message`` is call ``call``'s outcome as the worker writes one, field by field."""
    kind, error = message.get("kind"), message.get("error")
    return (
        message.get("type") == "outcome"
        and message.get("id") == call
        and isinstance(kind, str)
        and kind in _OUTCOME_KINDS
        and isinstance(message.get("output", ""), str)
        and isinstance(message.get("truncated", False), bool)
        and (error is None or isinstance(error, str))
    )


class SandboxTerminated(BackendError):
    """A sandboxed REPL session is over: its process died or a hard limit killed it.

    Its state is lost; open a new session to go on. Every later call on the same session
    raises this error again.

    Attributes:
        reason: ``"exited"``, ``"wall"``, ``"cpu"``, ``"memory"``, ``"protocol"`` or ``"closed"``.
    """

    def __init__(self, message: str, *, backend: str, reason: str, hint: str | None = None) -> None:
        super().__init__(
            message,
            backend=backend,
            hint=hint or "the session's state is lost; start a new session to continue",
        )
        self.reason = reason


def _await(awaitable: Any) -> Any:
    """Run a coroutine a tool returned, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="memfun-tool") as pool:
        return pool.submit(asyncio.run, awaitable).result()


class StreamReplSession(ReplSession):
    """A REPL session over a pair of byte streams to a worker process.

    Args:
        backend: Adapter name, for errors.
        isolation: The isolation the worker runs under.
        stdin: The worker's input stream (host writes requests).
        stdout: The worker's output stream (host reads replies).
        default_timeout: Hard wall-clock limit of each call, unless the call sets one.
        terminate: Kills the worker's whole tree and releases resources; returns the
            reason it died (``"exited"``, ``"memory"``, ``"cpu"``, ...) when known.
        authorize: Checks each tool call before it runs on the host.
        before_run: Called before every execute (an adapter's warning, for instance).
        own_tools: The adapter's own tools, added to every call: their names are reserved
            and their calls are not passed to ``authorize``.
    """

    def __init__(
        self,
        *,
        backend: str,
        isolation: IsolationLevel,
        stdin: IO[bytes],
        stdout: IO[bytes],
        default_timeout: float | None,
        terminate: Callable[[], str | None],
        authorize: ToolAuthorizer | None = None,
        before_run: Callable[[], None] | None = None,
        own_tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self._backend = backend
        self._isolation: IsolationLevel = isolation
        self._stdin = stdin
        self._default_timeout = default_timeout
        self._terminate = terminate
        self._authorize = authorize
        self._before_run = before_run
        self._own_tools = dict(own_tools or {})
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._sent: dict[str, tuple[object, str]] = {}
        self._lock = threading.Lock()
        self._calls = 0
        self._dead: SandboxTerminated | None = None
        threading.Thread(target=self._pump, args=(stdout,), daemon=True).start()
        ready = self._receive(time.monotonic() + _START_TIMEOUT)
        if ready.get("type") != "ready":
            self._die("protocol", f"the REPL worker did not start: {ready!r}")
        self.python_version = str(ready.get("python", ""))

    # --- public API ------------------------------------------------------------------------

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation the worker runs under."""
        return self._isolation

    @property
    def alive(self) -> bool:
        """Whether the session can still execute code."""
        return self._dead is None

    def execute(
        self,
        code: str,
        variables: Mapping[str, JSONValue] | None = None,
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        output_fields: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ReplOutcome:
        """Run ``code`` in the worker; see :meth:`ReplSession.execute`."""
        if not self._lock.acquire(blocking=False):
            raise ConflictError("this REPL session is already executing code (one call at a time)")
        try:
            if self._dead is not None:
                raise self._dead
            if self._before_run is not None:
                self._before_run()
            merged = dict(tools or {})
            if clash := sorted(set(merged) & set(self._own_tools)):
                raise ValidationError(
                    f"{clash[0]!r} is reserved", field="tools", rule="another name"
                )
            merged.update(self._own_tools)
            return self._execute(code, variables or {}, merged, output_fields, timeout)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Ask the worker to stop, then kill its whole tree (idempotent)."""
        if self._dead is not None and self._dead.reason == "closed":
            return
        with contextlib.suppress(OSError, ValueError):
            self._stdin.write(b'{"type":"shutdown"}\n')
            self._stdin.flush()
        with contextlib.suppress(OSError, ValueError):
            self._stdin.close()
        self._terminate()
        self._dead = SandboxTerminated(
            "the REPL session was closed", backend=self._backend, reason="closed"
        )

    # --- protocol ---------------------------------------------------------------------------

    def _pump(self, stdout: IO[bytes]) -> None:
        try:
            while line := stdout.readline(_MAX_MESSAGE):
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _send(self, payload: bytes) -> None:
        try:
            self._stdin.write(payload + b"\n")
            self._stdin.flush()
        except (OSError, ValueError):
            self._die("exited", "the sandboxed REPL is gone (its input pipe is closed)")

    def _receive(self, deadline: float | None) -> dict[str, Any]:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            line = self._lines.get(timeout=wait)
        except queue.Empty:
            self._die("wall", "the sandboxed code exceeded its time limit and was killed")
        if line is None:
            self._die("exited", "the sandboxed REPL process died")
        if not line.endswith(b"\n"):
            self._die("protocol", "the sandboxed REPL sent an oversized or broken message")
        try:
            message = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # nested deeper than Python recurses
            self._die(
                "protocol", f"the sandboxed REPL sent invalid or too deep JSON: {line[:200]!r}"
            )
        if not isinstance(message, dict):
            self._die("protocol", f"the sandboxed REPL sent a non-object: {line[:200]!r}")
        return message  # pyright: ignore[reportUnknownVariableType]

    def _die(self, reason: str, message: str) -> NoReturn:
        found = self._terminate()
        if reason in ("exited", "protocol") and found:
            reason = found
            message = f"{message} (limit hit: {found})"
        self._dead = SandboxTerminated(message, backend=self._backend, reason=reason)
        raise self._dead

    def _variables_json(self, variables: Mapping[str, JSONValue]) -> str:
        parts: list[str] = []
        for name, value in variables.items():
            known = self._sent.get(name)
            if known is not None and known[0] is value and isinstance(value, IMMUTABLE):
                parts.append(f'{json.dumps(name)}:{{"key":"{known[1]}"}}')
                continue
            text = json.dumps(jsonable(value), allow_nan=False)
            key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
            self._sent[name] = (value, key)
            fresh = "" if known is not None and known[1] == key else f',"value":{text}'
            parts.append(f'{json.dumps(name)}:{{"key":"{key}"{fresh}}}')
        return "{" + ",".join(parts) + "}"

    def _execute(
        self,
        code: str,
        variables: Mapping[str, JSONValue],
        tools: dict[str, Callable[..., Any]],
        output_fields: Sequence[str] | None,
        timeout: float | None,
    ) -> ReplOutcome:
        self._calls += 1
        limit = timeout if timeout is not None else self._default_timeout
        header = {
            "type": "execute",
            "id": self._calls,
            "code": code,
            "tools": sorted(tools),
            "output_fields": None if output_fields is None else list(output_fields),
            "timeout": limit,
        }
        head = json.dumps(header, separators=(",", ":"))
        self._send(f'{head[:-1]},"variables":{self._variables_json(variables)}}}'.encode())
        started = time.monotonic()
        budget = None if limit is None else limit + _HARD_GRACE
        while True:
            deadline = None if budget is None else time.monotonic() + budget
            message = self._receive(deadline)
            if _is_tool_call(message):
                tool_started = time.monotonic()
                self._send(self._call_tool(message, tools))
                if budget is not None and deadline is not None:
                    # The sandbox waits while a host tool runs: that time is not charged.
                    budget = deadline - tool_started
                continue
            if _is_outcome(message, self._calls):
                return ReplOutcome(
                    kind=message["kind"],
                    output=message.get("output", ""),
                    output_truncated=message.get("truncated", False),
                    value=message.get("value"),
                    error=message.get("error"),
                    duration=time.monotonic() - started,
                )
            self._die("protocol", f"unexpected message from the REPL: {str(message)[:200]}")

    def _call_tool(self, message: dict[str, Any], tools: dict[str, Callable[..., Any]]) -> bytes:
        call_id, name = message.get("id"), message["name"]
        args: list[Any] = message.get("args") or []
        kwargs: dict[str, Any] = message.get("kwargs") or {}
        try:
            tool = tools.get(name)
            if tool is None:
                raise NotFoundError("tool", name)
            if self._authorize is not None and name not in self._own_tools:
                self._authorize(name, {"args": args, "kwargs": kwargs})
            value = tool(*args, **kwargs)
            if inspect.isawaitable(value):
                value = _await(value)
            reply: dict[str, Any] = {"type": "tool_result", "id": call_id, "ok": True,
                                     "value": jsonable(value)}  # fmt: skip
        except Exception as exc:  # reported to the sandboxed code as ToolError
            _log.debug("tool %s failed inside the sandbox: %s", name, exc)
            reply = {"type": "tool_result", "id": call_id, "ok": False,
                     "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
        except BaseException:
            self._terminate()
            self._dead = SandboxTerminated(
                "interrupted during a tool call", backend=self._backend, reason="closed"
            )
            raise
        return json.dumps(reply, separators=(",", ":"), allow_nan=False).encode()
