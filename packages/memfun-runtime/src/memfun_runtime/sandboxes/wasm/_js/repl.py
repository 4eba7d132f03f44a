"""The REPL that runs INSIDE Pyodide (standard library only; never imported by the host).

It speaks the same wire protocol (version 1) as ``_worker/repl_worker.py``: JSON lines,
``execute`` / ``tool_call`` / ``tool_result`` / ``outcome`` / ``shutdown``. The Deno worker
(``worker.mjs``) hands :func:`main` a ``host`` object: ``read_line()``, ``write_line(text)``,
``take_output()`` (the capped stdout/stderr of the call), ``set_deadline(seconds)`` (the
soft time limit; ``0`` pauses it) and ``timed_out()``, plus ``config`` (JSON).

Mounted folders live in Pyodide's in-memory file system. They are synchronised with the
host through the reserved tool ``__memfun_sync__``: before a call runs (host changes in),
around each host tool call and when the call ends (changes of writable mounts out).
"""

# Plain os calls on the in-memory file system (the paths are strings from the protocol).
# ruff: noqa: PTH101, PTH103, PTH107, PTH118, PTH120, PTH123

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import io
import json
import linecache
import os
import signal
import stat
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

PROTOCOL_VERSION = 1
SYNC_TOOL = "__memfun_sync__"
_IMMUTABLE = (str, int, float, bool, type(None))


class _Submitted(BaseException):
    """Raised by ``SUBMIT``; a BaseException so that ``except Exception`` cannot swallow it."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__("SUBMIT")
        self.fields = fields


class _TimeLimit(BaseException):
    """The soft time limit of a call fired (raised from the SIGINT handler)."""


class ToolError(RuntimeError):
    """A host tool refused or failed; the message comes from the host."""


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if isinstance(value, list | tuple):
            return [_jsonable(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return repr(value)
    return value


def _describe(exc: BaseException, filename_prefix: str, replace: str | None = None) -> str:
    summary = traceback.TracebackException.from_exception(exc)
    frames = [frame for frame in summary.stack if frame.filename.startswith(filename_prefix)]
    lines = traceback.format_list(traceback.StackSummary.from_list(frames)) if frames else []
    head = "Traceback (most recent call last):\n" if lines else ""
    last = replace if replace is not None else "".join(summary.format_exception_only())
    return head + "".join(lines) + last.rstrip("\n")


class _Mounts:
    """The sandbox side of the mount synchronisation: what changed since the last sync."""

    def __init__(self, mounts: list[dict[str, Any]]) -> None:
        self.mounts = mounts
        self.known: dict[str, dict[str, tuple[int, int]]] = {m["path"]: {} for m in mounts}
        for mount in mounts:
            os.makedirs(mount["path"], exist_ok=True)

    def changes(self) -> dict[str, Any]:
        """Files created, changed or deleted since the last sync (mounts that sync back)."""
        changed: dict[str, dict[str, str]] = {}
        deleted: dict[str, list[str]] = {}
        for mount in self.mounts:
            if not mount["sync_back"]:
                continue
            root = mount["path"]
            seen = self._scan(root)
            known = self.known[root]
            changed[root] = {}
            for rel, meta in seen.items():
                if known.get(rel) != meta:
                    with open(os.path.join(root, rel), "rb") as handle:
                        changed[root][rel] = base64.b64encode(handle.read()).decode()
            deleted[root] = sorted(set(known) - set(seen))
            self.known[root] = seen
        return {"changed": changed, "deleted": deleted}

    @staticmethod
    def _scan(root: str) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode):
                    found[os.path.relpath(path, root)] = (info.st_mtime_ns, info.st_size)
        return found

    def apply(self, incoming: dict[str, Any]) -> None:
        """Write the host's changes into the in-memory file system."""
        changed: dict[str, dict[str, str]] = incoming.get("changed") or {}
        deleted: dict[str, list[str]] = incoming.get("deleted") or {}
        for mount in self.mounts:
            root = mount["path"]
            files, gone = changed.get(root) or {}, deleted.get(root) or []
            if not files and not gone:
                continue
            if not mount["writable"]:
                _set_modes(root, 0o755, 0o644)
            for rel, data in files.items():
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as handle:
                    handle.write(base64.b64decode(data))
                info = os.lstat(path)
                self.known[root][rel] = (info.st_mtime_ns, info.st_size)
            for rel in gone:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(root, rel))
                self.known[root].pop(rel, None)
            if not mount["writable"]:
                _set_modes(root, 0o555, 0o444)


def _set_modes(root: str, folders: int, files: int) -> None:
    """Make a read-only mount's copy writable for an update, or read-only again."""
    for folder, _, names in os.walk(root):
        os.chmod(folder, folders)
        for name in names:
            os.chmod(os.path.join(folder, name), files)


class _Session:
    """The namespace and the execution of one request."""

    def __init__(self, host: Any, config: dict[str, Any]) -> None:
        self.host = host
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.remembered: dict[str, tuple[str, Any, bool]] = {}
        self.tool_names: set[str] = set()
        self.output_fields: list[str] | None = None
        self.calls = 0
        self.tool_ids = 0
        self.in_user_code = False
        self.deadline: float | None = None
        self.mounts = _Mounts(list(config.get("mounts") or []))

    # --- the channel ---------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.host.write_line(json.dumps(message, separators=(",", ":")))

    def receive(self) -> dict[str, Any] | None:
        line = self.host.read_line()
        if line is None:
            return None
        message = json.loads(str(line))
        if not isinstance(message, dict):
            raise ValueError("protocol messages must be JSON objects")
        return message  # pyright: ignore[reportUnknownVariableType]

    def on_interrupt(self, _signum: int, _frame: object) -> None:
        if self.in_user_code and self.host.timed_out():
            raise _TimeLimit

    # --- host tools ------------------------------------------------------------------------

    def _round_trip(self, name: str, args: Any, kwargs: dict[str, Any]) -> Any:
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

    def _pause(self) -> float | None:
        self.host.set_deadline(0)
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _resume(self, remaining: float | None) -> None:
        if remaining is not None:
            self.deadline = time.monotonic() + remaining
            self.host.set_deadline(max(remaining, 0.001))

    def sync(self) -> None:
        """Send the writable mounts' changes out and apply the host's changes."""
        if not self.mounts.mounts:
            return
        incoming = self._round_trip(SYNC_TOOL, [self.mounts.changes()], {})
        self.mounts.apply(incoming)

    def call_tool(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            json.dumps([args, kwargs], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments of tool {name!r} must be JSON values: {exc}") from None
        # The time limit is paused while the host runs the tool.
        was_user, self.in_user_code = self.in_user_code, False
        remaining = self._pause()
        try:
            self.sync()
            value = self._round_trip(name, list(args), kwargs)
            self.sync()
        finally:
            self.in_user_code = was_user
            self._resume(remaining)
        return value

    def _make_tool(self, name: str) -> Callable[..., Any]:
        def tool(*args: Any, **kwargs: Any) -> Any:
            return self.call_tool(name, args, kwargs)

        tool.__name__ = name
        tool.__qualname__ = name
        return tool

    def submit(self, *args: Any, **kwargs: Any) -> None:
        fields = self.output_fields
        if fields is None:
            if len(args) == 1 and not kwargs:
                raise _Submitted({"output": args[0]})
            raise TypeError("SUBMIT takes exactly one value")
        if args and kwargs:
            raise TypeError("SUBMIT takes positional or keyword values, not both")
        values = dict(zip(fields, args, strict=False)) if args else dict(kwargs)
        if len(args) > len(fields) or set(values) != set(fields):
            wanted = ", ".join(fields)
            raise TypeError(f"SUBMIT needs exactly these fields: {wanted} (got {sorted(values)})")
        raise _Submitted(values)

    # --- one request -----------------------------------------------------------------------

    def bind(self, request: dict[str, Any]) -> None:
        for name in self.tool_names:
            self.namespace.pop(name, None)
        requested: list[Any] = request.get("tools") or []
        names = [str(n) for n in requested]
        self.tool_names = {n for n in names if n != SYNC_TOOL}
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
                immutable = isinstance(value, _IMMUTABLE)
                stored = value if immutable else json.dumps(value)
                self.remembered[name] = (key, stored, immutable)
            return value
        known = self.remembered.get(name)
        if known is None or known[0] != key:
            raise RuntimeError(f"protocol error: variable {name!r} was never sent with key {key!r}")
        _, stored, immutable = known
        return stored if immutable else json.loads(stored)

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        filename = f"<repl-{self.calls}>"
        code = str(request.get("code", ""))
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        outcome: dict[str, Any] = {"type": "outcome", "id": request.get("id"), "value": None}
        raw_timeout = request.get("timeout")
        timeout = float(raw_timeout) if isinstance(raw_timeout, int | float) else 0.0
        try:
            self.bind(request)
            self.sync()
            tree = ast.parse(code, filename, "exec")
        except SyntaxError as exc:
            outcome.update(kind="syntax_error", error=_describe(exc, "<repl-"))
            return self._finish(outcome, None)
        except ToolError as exc:
            outcome.update(kind="error", error=f"the mounted folders could not be synced: {exc}")
            return self._finish(outcome, None)
        value = self._execute(tree, filename, timeout, outcome)
        try:
            self.sync()
        except ToolError as exc:
            message = f"the mounted folders could not be synced back: {exc}"
            outcome.update(kind="error", value=None, error=message)
        return self._finish(outcome, value)

    def _execute(
        self, tree: ast.Module, filename: str, timeout: float, outcome: dict[str, Any]
    ) -> Any:
        """Run the parsed code under the soft time limit; fill ``outcome``; return the value."""
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            tree.body.pop()
        else:
            last = None
        value: Any = None
        self.deadline = time.monotonic() + timeout if timeout > 0 else None
        try:
            if timeout > 0:
                self.host.set_deadline(timeout)
            self.in_user_code = True
            exec(compile(tree, filename, "exec"), self.namespace)  # noqa: S102 - the sandboxed REPL
            if last is not None:
                expression = ast.Expression(last.value)
                value = eval(compile(expression, filename, "eval"), self.namespace)  # noqa: S307
            outcome["kind"] = "result"
        except _Submitted as submitted:
            outcome.update(kind="final", value=_jsonable(submitted.fields))
        except _TimeLimit as exc:
            message = f"TimeoutError: execution exceeded its time limit ({timeout:g} s)"
            outcome.update(kind="error", error=_describe(exc, "<repl-", message))
        except BaseException as exc:
            outcome.update(kind="error", error=_describe(exc, "<repl-"))
        finally:
            self.in_user_code = False
            self.host.set_deadline(0)
            self.deadline = None
        return value

    def _finish(self, outcome: dict[str, Any], value: Any) -> dict[str, Any]:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        taken = self.host.take_output()
        output, truncated = str(taken[0]).rstrip("\n"), bool(taken[1])
        if value is not None:
            try:
                shown = repr(value)
            except Exception as exc:
                shown = f"<unprintable {type(value).__name__}: {exc}>"
            output = f"{output}\n{shown}" if output else shown
        outcome["output"] = output
        outcome["truncated"] = truncated
        return outcome


class _CappedText(io.TextIOBase):
    """A text stream keeping at most ``cap`` characters (for one-shot runs)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> int:  # pyright: ignore[reportIncompatibleMethodOverride]
        room = self.cap - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self) -> str:
        return "".join(self.parts)


def run_program(code: str, stdin: str, cap: int) -> None:
    """Run ``code`` as a program (fresh namespace, separate stdout/stderr) and SUBMIT the result.

    Used by the adapter's one-shot ``run_code``; a soft time-out ends the program with
    ``timed_out`` set and exit status -9 (as if killed).
    """
    out, err = _CappedText(cap), _CappedText(cap)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    exit_code = 0
    timed_out = False
    linecache.cache["<program>"] = (len(code), None, code.splitlines(True), "<program>")
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                exec(compile(code, "<program>", "exec"), namespace)  # noqa: S102 - sandboxed
            except SystemExit as exc:
                exit_code = _exit_status(exc.code, err)
            except _TimeLimit:
                timed_out = True
                exit_code = -9
            except _Submitted:
                raise
            except BaseException as exc:
                err.write(_describe(exc, "<program>") + "\n")
                exit_code = 1
    finally:
        sys.stdin = old_stdin
    raise _Submitted({"exit_code": exit_code, "stdout": out.text(), "stderr": err.text(),
            "stdout_truncated": out.dropped > 0, "stderr_truncated": err.dropped > 0,
                      "timed_out": timed_out})  # fmt: skip


def _exit_status(code: object, err: _CappedText) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    err.write(f"{code}\n")
    return 1


def _interruptible_sleep() -> None:
    """Make ``time.sleep`` wake up every 50 ms, so the soft time limit can interrupt it.

    Pyodide's own sleep blocks the WebAssembly thread for the whole duration.
    """
    blocking_sleep = time.sleep

    def sleep(seconds: float, /) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            blocking_sleep(min(left, 0.05))

    time.sleep = sleep


def _configure(config: dict[str, Any]) -> None:
    os.environ.clear()
    env: dict[str, Any] = config.get("env") or {}
    os.environ.update({str(k): str(v) for k, v in env.items()})
    cwd = config.get("cwd")
    if isinstance(cwd, str):
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)


def main(host: Any) -> None:
    """Serve execute requests until the host closes the channel or asks to shut down."""
    config: dict[str, Any] = json.loads(str(host.config))
    _configure(config)
    _interruptible_sleep()
    session = _Session(host, config)
    signal.signal(signal.SIGINT, session.on_interrupt)
    program = type(sys)("_memfun_program")
    program.run = run_program  # pyright: ignore[reportAttributeAccessIssue]
    sys.modules["_memfun_program"] = program
    session.send({"type": "ready", "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0]})
    while True:
        request = session.receive()
        if request is None or request.get("type") == "shutdown":
            return
        if request.get("type") != "execute":
            raise RuntimeError(f"protocol error: unexpected message {request.get('type')!r}")
        session.send(session.run(request))
