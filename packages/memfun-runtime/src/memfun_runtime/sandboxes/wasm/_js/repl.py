"""The REPL that runs INSIDE Pyodide (standard library only; never imported by the host).

The protocol is ``_worker/repl_worker.py``'s :class:`Session`, which the Deno worker
(``worker.mjs``) loads as the module ``repl_worker`` before this file; this file gives it
the channel, output and clock of Pyodide. :func:`main` gets a ``host`` object:
``read_line()``, ``write_line(text)``, ``take_output()`` (the capped stdout/stderr of the
call), ``set_deadline(seconds)`` (the soft time limit; ``0`` pauses it) and
``timed_out()``, plus ``config`` (JSON).

Mounted folders live in Pyodide's in-memory file system. They are synchronised with the
host through the reserved tool ``__memfun_sync__``: before a call runs (host changes in),
around each host tool call and when the call ends (changes of writable mounts out).
"""

# Plain os calls on the in-memory file system (the paths are strings from the protocol).
# ruff: noqa: PTH101, PTH103, PTH107, PTH118, PTH120, PTH123

from __future__ import annotations

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_runtime.sandboxes._worker.repl_worker import Session, Submitted, ToolError, describe
else:  # loaded by worker.mjs from _worker/repl_worker.py
    from repl_worker import Session, Submitted, ToolError, describe

SYNC_TOOL = "__memfun_sync__"


class _TimeLimit(BaseException):
    """The soft time limit of a call fired (raised from the SIGINT handler)."""


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


class _WasmSession(Session):
    """The shared session with the Deno worker's ``host`` as channel, output and clock."""

    reserved = frozenset({SYNC_TOOL})

    def __init__(self, host: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self.host = host
        self.in_user_code = False
        self.deadline: float | None = None
        self.mounts = _Mounts(list(config.get("mounts") or []))

    def read_line(self) -> str | None:
        line = self.host.read_line()
        return None if line is None else str(line)

    def write_line(self, text: str) -> None:
        self.host.write_line(text)

    def take_output(self) -> tuple[str, bool]:
        taken = self.host.take_output()
        return str(taken[0]), bool(taken[1])

    def set_limit(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds if seconds > 0 else None
        self.host.set_deadline(seconds)
        self.in_user_code = seconds > 0

    def pause_limit(self) -> float:
        self.in_user_code = False
        self.host.set_deadline(0)
        return 0.0 if self.deadline is None else max(self.deadline - time.monotonic(), 0.001)

    def resume_limit(self, remaining: float) -> None:
        if remaining > 0:
            self.set_limit(remaining)

    def error_text(self, exc: BaseException, timeout: float) -> str:
        if isinstance(exc, _TimeLimit):
            message = f"TimeoutError: execution exceeded its time limit ({timeout:g} s)"
            return describe(exc, "<repl-", message)
        return describe(exc, "<repl-")

    def on_interrupt(self, _signum: int, _frame: object) -> None:
        if self.in_user_code and self.host.timed_out():
            raise _TimeLimit

    def sync(self) -> None:
        """Send the writable mounts' changes out and apply the host's changes."""
        if self.mounts.mounts:
            self.mounts.apply(self.round_trip(SYNC_TOOL, [self.mounts.changes()], {}))

    def host_call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.sync()
        value = self.round_trip(name, args, kwargs)
        self.sync()
        return value

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            self.sync()
        except ToolError as exc:
            failed = {"type": "outcome", "id": request.get("id"), "value": None, "kind": "error",
                      "error": f"the mounted folders could not be synced: {exc}"}  # fmt: skip
            return self.finish(failed, None)
        outcome = super().run(request)
        try:
            self.sync()
        except ToolError as exc:
            message = f"the mounted folders could not be synced back: {exc}"
            outcome.update(kind="error", value=None, error=message)
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
            except Submitted:
                raise
            except BaseException as exc:
                err.write(describe(exc, "<program>") + "\n")
                exit_code = 1
    finally:
        sys.stdin = old_stdin
    raise Submitted({"exit_code": exit_code, "stdout": out.text(), "stderr": err.text(),
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
    session = _WasmSession(host, config)
    signal.signal(signal.SIGINT, session.on_interrupt)
    program = type(sys)("_memfun_program")
    program.run = run_program  # pyright: ignore[reportAttributeAccessIssue]
    sys.modules["_memfun_program"] = program
    session.serve()
