"""The persistent REPL worker that runs INSIDE a sandbox (standard library only).

Wire protocol (version 1): one JSON object per line. The host writes to the worker's
stdin, the worker answers on its original stdout; both are moved to private descriptors
at start, so the code's own ``print``, ``input`` and child processes never touch them
(fd 0 becomes ``/dev/null``, fds 1 and 2 a pipe drained into a capped buffer).

host -> worker:
    ``{"type": "execute", "id", "code", "variables": {name: {"key", "value"?}},
    "tools": [names], "output_fields": [names] | null, "timeout": seconds | null}``
    ``{"type": "tool_result", "id", "ok": bool, "value" | "error"}``
    ``{"type": "shutdown"}``

worker -> host:
    ``{"type": "ready", "protocol": 1, "python": "3.11.2"}``
    ``{"type": "tool_call", "id", "name", "args", "kwargs"}``
    ``{"type": "outcome", "id", "kind", "output", "truncated", "value", "error"}``

A variable sent with a ``value`` is remembered under its ``key``; a later call that sends
only the key gets a fresh copy of the remembered value without the host re-sending it.

:class:`Session` is the protocol's one implementation. Run as a script (:func:`main`) it
serves the local, docker and modal sandboxes over file descriptors; the wasm sandbox's
Pyodide REPL (``wasm/_js/repl.py``) loads this file as the module ``repl_worker`` and
subclasses :class:`Session` with its own channel, output capture and time limit. The host
imports :func:`jsonable` from here.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import linecache
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

PROTOCOL_VERSION = 1
IMMUTABLE = (str, int, float, bool, type(None))
"""Values a session keeps as they are (others are kept as JSON and copied on each use)."""
_CHUNK = 65536


class Submitted(BaseException):
    """Raised by ``SUBMIT``; a BaseException so that ``except Exception`` cannot swallow it."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__("SUBMIT")
        self.fields = fields


class ToolError(RuntimeError):
    """A host tool refused or failed; the message comes from the host."""


def jsonable(value: Any) -> Any:
    """``value`` itself when it is JSON, else containers converted and the rest ``repr``-ed."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): jsonable(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if isinstance(value, list | tuple):
            return [jsonable(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return repr(value)
    return value


def describe(exc: BaseException, filename_prefix: str, replace: str | None = None) -> str:
    """The traceback of ``exc`` limited to frames of files named ``filename_prefix...``.

    ``replace`` stands instead of the exception's own last line when given.
    """
    summary = traceback.TracebackException.from_exception(exc)
    frames = [frame for frame in summary.stack if frame.filename.startswith(filename_prefix)]
    lines = traceback.format_list(traceback.StackSummary.from_list(frames)) if frames else []
    head = "Traceback (most recent call last):\n" if lines else ""
    last = replace if replace is not None else "".join(summary.format_exception_only())
    return head + "".join(lines) + last.rstrip("\n")


class Session:
    """The namespace of a REPL session and the execution of its requests.

    A subclass says how messages and output move and how the soft time limit works:
    :meth:`read_line`, :meth:`write_line`, :meth:`take_output`, :meth:`set_limit`,
    :meth:`pause_limit` and :meth:`resume_limit`.
    """

    reserved: frozenset[str] = frozenset()
    """Tool names the host may send that are not bound in the namespace."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.remembered: dict[str, tuple[str, Any, bool]] = {}
        self.tool_names: set[str] = set()
        self.output_fields: list[str] | None = None
        self.calls = 0
        self.tool_ids = 0

    # --- what a subclass gives -------------------------------------------------------------

    def read_line(self) -> str | bytes | None:
        """The next protocol line from the host, or ``None`` when the channel is closed."""
        raise NotImplementedError

    def write_line(self, text: str) -> None:
        """Send one protocol line (without its newline) to the host."""
        raise NotImplementedError

    def take_output(self) -> tuple[str, bool]:
        """The code's captured stdout/stderr since the last call, and whether it was cut."""
        raise NotImplementedError

    def set_limit(self, seconds: float) -> None:
        """Start the soft time limit of a call (``seconds > 0``) or end it (``0``)."""
        raise NotImplementedError

    def pause_limit(self) -> float:
        """Stop the clock while the host runs a tool; return the seconds left (0: none)."""
        raise NotImplementedError

    def resume_limit(self, remaining: float) -> None:
        """Restart the clock with what :meth:`pause_limit` returned."""
        raise NotImplementedError

    def error_text(self, exc: BaseException, timeout: float) -> str:
        """How an exception of the code is reported (its user-code traceback)."""
        del timeout
        return describe(exc, "<repl-")

    # --- the channel -----------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Write one message to the host."""
        self.write_line(json.dumps(message, separators=(",", ":")))

    def receive(self) -> dict[str, Any] | None:
        """Read one message from the host (``None``: the channel is closed)."""
        line = self.read_line()
        if not line:
            return None
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("protocol messages must be JSON objects")
        return message  # pyright: ignore[reportUnknownVariableType]

    def serve(self) -> None:
        """Answer execute requests until the host closes the channel or asks to shut down."""
        self.send({"type": "ready", "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0]})
        while True:
            request = self.receive()
            if request is None or request.get("type") == "shutdown":
                return
            if request.get("type") != "execute":
                raise RuntimeError(f"protocol error: unexpected message {request.get('type')!r}")
            self.send(self.run(request))

    # --- host tools ------------------------------------------------------------------------

    def round_trip(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Ask the host to run tool ``name`` and wait for its result."""
        self.tool_ids += 1
        call_id = self.tool_ids
        self.send({"type": "tool_call", "id": call_id, "name": name, "args": args,
                   "kwargs": kwargs})  # fmt: skip
        reply = self.receive()
        if reply is None:
            raise SystemExit(0)
        if reply.get("type") != "tool_result" or reply.get("id") != call_id:
            raise RuntimeError(f"protocol error: expected tool_result {call_id}, got {reply!r}")
        if not reply.get("ok"):
            raise ToolError(str(reply.get("error")))
        return reply.get("value")

    def host_call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """One tool call of the code, with the clock paused (a subclass may add to it)."""
        return self.round_trip(name, args, kwargs)

    def call_tool(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run host tool ``name``; the time limit is paused while the host runs it."""
        try:
            json.dumps([args, kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments of tool {name!r} must be JSON values: {exc}") from None
        remaining = self.pause_limit()
        try:
            return self.host_call(name, list(args), kwargs)
        finally:
            self.resume_limit(remaining)

    def _make_tool(self, name: str) -> Callable[..., Any]:
        def tool(*args: Any, **kwargs: Any) -> Any:
            return self.call_tool(name, args, kwargs)

        tool.__name__ = name
        tool.__qualname__ = name
        return tool

    def submit(self, *args: Any, **kwargs: Any) -> None:
        """``SUBMIT``: end the call with the final value(s)."""
        fields = self.output_fields
        if fields is None:
            if len(args) == 1 and not kwargs:
                raise Submitted({"output": args[0]})
            raise TypeError("SUBMIT takes exactly one value")
        if args and kwargs:
            raise TypeError("SUBMIT takes positional or keyword values, not both")
        values = dict(zip(fields, args, strict=False)) if args else dict(kwargs)
        if len(args) > len(fields) or set(values) != set(fields):
            wanted = ", ".join(fields)
            raise TypeError(f"SUBMIT needs exactly these fields: {wanted} (got {sorted(values)})")
        raise Submitted(values)

    # --- one request -----------------------------------------------------------------------

    def bind(self, request: dict[str, Any]) -> None:
        """Bind the request's tools, ``SUBMIT``, ``ToolError`` and variables."""
        for name in self.tool_names:
            self.namespace.pop(name, None)
        requested: list[Any] = request.get("tools") or []
        self.tool_names = {str(n) for n in requested} - self.reserved
        for name in self.tool_names:
            self.namespace[name] = self._make_tool(name)
        fields = request.get("output_fields")
        self.output_fields = None if fields is None else [str(f) for f in fields]
        self.namespace["SUBMIT"] = self.submit
        self.namespace["ToolError"] = ToolError
        variables: dict[str, dict[str, Any]] = request.get("variables") or {}
        for name, entry in variables.items():
            self.namespace[name] = self._variable(name, entry)

    def _variable(self, name: str, entry: dict[str, Any]) -> Any:
        key = entry.get("key")
        if "value" in entry:
            value = entry["value"]
            if isinstance(key, str):
                immutable = isinstance(value, IMMUTABLE)
                stored = value if immutable else json.dumps(value)
                self.remembered[name] = (key, stored, immutable)
            return value
        known = self.remembered.get(name)
        if known is None or known[0] != key:
            raise RuntimeError(f"protocol error: variable {name!r} was never sent with key {key!r}")
        _, stored, immutable = known
        return stored if immutable else json.loads(stored)

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        """Execute one request; return its ``outcome`` message."""
        self.calls += 1
        filename = f"<repl-{self.calls}>"
        code = str(request.get("code", ""))
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        outcome: dict[str, Any] = {"type": "outcome", "id": request.get("id"), "value": None}
        raw_timeout = request.get("timeout")
        timeout = float(raw_timeout) if isinstance(raw_timeout, int | float) else 0.0
        try:
            self.bind(request)
            tree = ast.parse(code, filename, "exec")
        except SyntaxError as exc:
            outcome.update(kind="syntax_error", error=describe(exc, "<repl-"))
            return self.finish(outcome, None)
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            tree.body.pop()
        else:
            last = None
        value: Any = None
        try:
            if timeout > 0:
                self.set_limit(timeout)
            exec(compile(tree, filename, "exec"), self.namespace)  # noqa: S102 - the sandboxed REPL
            if last is not None:
                expression = ast.Expression(last.value)
                value = eval(compile(expression, filename, "eval"), self.namespace)  # noqa: S307
            outcome["kind"] = "result"
        except Submitted as submitted:
            outcome.update(kind="final", value=jsonable(submitted.fields))
        except BaseException as exc:
            outcome.update(kind="error", error=self.error_text(exc, timeout))
        finally:
            self.set_limit(0)
        return self.finish(outcome, value)

    def finish(self, outcome: dict[str, Any], value: Any) -> dict[str, Any]:
        """Add the call's output and the ``repr`` of its last expression to ``outcome``."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        output, truncated = self.take_output()
        output = output.rstrip("\n")
        if value is not None:
            try:
                shown = repr(value)
            except Exception as exc:
                shown = f"<unprintable {type(value).__name__}: {exc}>"
            output = f"{output}\n{shown}" if output else shown
        outcome["output"] = output
        outcome["truncated"] = truncated
        return outcome


# --- the worker process (local, docker, modal) ----------------------------------------------


class _OutputCollector:
    """Drains the pipe behind fds 1 and 2 into a buffer capped at ``cap`` bytes."""

    def __init__(self, read_fd: int, cap: int) -> None:
        self._fd = read_fd
        self._cap = cap
        self._buffer = bytearray()
        self._dropped = 0
        self._marker = b""
        self._pending = b""
        self._seen = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="memfun-output", daemon=True).start()

    def _keep(self, data: bytes) -> None:
        room = self._cap - len(self._buffer)
        if room > 0:
            self._buffer += data[:room]
        self._dropped += max(0, len(data) - max(room, 0))

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, _CHUNK)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                data = self._pending + chunk
                self._pending = b""
                marker = self._marker
                if not marker:
                    self._keep(data)
                    continue
                index = data.find(marker)
                if index >= 0:
                    self._keep(data[:index])
                    self._marker = b""
                    self._pending = data[index + len(marker) :]
                    self._seen.set()
                else:
                    hold = len(marker) - 1
                    self._keep(data[:-hold] if len(data) > hold else b"")
                    self._pending = data[-hold:] if len(data) > hold else data

    def take(self, write_fd: int) -> tuple[str, bool]:
        """Wait until everything written so far is drained; return it and reset."""
        marker = b"\x00memfun-end-" + os.urandom(8).hex().encode() + b"\x00"
        with self._lock:
            self._marker = marker
            self._seen.clear()
        os.write(write_fd, marker)
        self._seen.wait(timeout=10)
        with self._lock:
            text = self._buffer.decode("utf-8", errors="replace")
            truncated = self._dropped > 0
            self._buffer = bytearray()
            self._dropped = 0
            leftover, self._pending = self._pending, b""
            self._keep(leftover)
        return text, truncated


class _ProcessSession(Session):
    """A session over private copies of fds 0 and 1, with SIGALRM as the soft time limit."""

    def __init__(self, collector: _OutputCollector) -> None:
        super().__init__()
        self._collector = collector
        self._in: BinaryIO = os.fdopen(os.dup(0), "rb")
        self._out: BinaryIO = os.fdopen(os.dup(1), "wb")
        os.set_inheritable(self._in.fileno(), False)
        os.set_inheritable(self._out.fileno(), False)

    def read_line(self) -> bytes:
        return self._in.readline()

    def write_line(self, text: str) -> None:
        self._out.write(text.encode() + b"\n")
        self._out.flush()

    def take_output(self) -> tuple[str, bool]:
        return self._collector.take(1)

    def set_limit(self, seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def pause_limit(self) -> float:
        return signal.setitimer(signal.ITIMER_REAL, 0)[0]

    def resume_limit(self, remaining: float) -> None:
        if remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, remaining)


def _on_alarm(_signum: int, _frame: object) -> None:
    raise TimeoutError("execution exceeded its time limit")


def main() -> None:
    """Serve execute requests until the host closes the channel or asks to shut down."""
    config: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    read_fd, write_fd = os.pipe()
    os.set_inheritable(read_fd, False)
    collector = _OutputCollector(read_fd, int(config.get("max_output_bytes", 1_000_000)))
    session = _ProcessSession(collector)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    signal.signal(signal.SIGALRM, _on_alarm)
    session.serve()


if __name__ == "__main__":
    main()
