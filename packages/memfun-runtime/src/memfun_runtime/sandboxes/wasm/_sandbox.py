"""The ``wasm`` sandbox: a persistent Python REPL in Pyodide (WebAssembly) on Deno."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    IsolationLevel,
    JSONValue,
    NetworkPolicy,
    ReplOutcome,
    ReplSession,
    SandboxLimits,
    SandboxResult,
)
from memfun_runtime.sandboxes._blocking import BlockingSandbox
from memfun_runtime.sandboxes._errors import SandboxTerminated
from memfun_runtime.sandboxes._output import CappedReader
from memfun_runtime.sandboxes._process import kill_tree, spawn
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes._worker import worker_script
from memfun_runtime.sandboxes.wasm._cache import PyodideCache, locate_pyodide
from memfun_runtime.sandboxes.wasm._deno import deno_binary
from memfun_runtime.sandboxes.wasm._sync import SYNC_TOOL, WORKSPACE, MountSync

__all__ = ["WasmReplSession", "WasmSandbox"]

_log = logging.getLogger("memfun.sandbox")
_JS_DIR = Path(__file__).resolve().parent / "_js"
_WORKER = worker_script("repl_worker.py")
_WASM_PAGES_PER_MB = 16
_MAX_WASM_PAGES = 65536  # wasm32: 4 GiB
_MIN_JS_HEAP_MB = 256
_HOME = "/home/pyodide"
_KILLED = -signal.SIGKILL
_DENY = ("--deny-net", "--deny-env", "--deny-run", "--deny-ffi", "--deny-sys", "--deny-write",
         "--deny-import")  # fmt: skip


class WasmReplSession(ReplSession):
    """A REPL session in Pyodide; adds mount synchronisation to :class:`StreamReplSession`."""

    def __init__(self, inner: StreamReplSession, sync: MountSync | None) -> None:
        self._inner = inner
        self._sync = sync

    @property
    def isolation(self) -> IsolationLevel:
        """``strong``: WebAssembly inside Deno's permission sandbox."""
        return self._inner.isolation

    @property
    def alive(self) -> bool:
        """Whether the session can still execute code."""
        return self._inner.alive

    @property
    def python_version(self) -> str:
        """The Python version inside Pyodide."""
        return self._inner.python_version

    def execute(
        self,
        code: str,
        variables: Mapping[str, JSONValue] | None = None,
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        output_fields: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ReplOutcome:
        """Run ``code``; see :meth:`ReplSession.execute`."""
        merged: dict[str, Callable[..., Any]] = dict(tools or {})
        if SYNC_TOOL in merged:
            raise ValidationError(
                f"{SYNC_TOOL!r} is reserved", field="tools", rule="another tool name"
            )
        if self._sync is not None:
            merged[SYNC_TOOL] = self._sync
        return self._inner.execute(
            code, variables, tools=merged, output_fields=output_fields, timeout=timeout
        )

    def close(self) -> None:
        """Kill the Deno process and release its resources (idempotent)."""
        self._inner.close()


def _preexec(cpu_seconds: float | None, file_mb: int | None) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if cpu_seconds is not None:
            soft = max(1, int(cpu_seconds))
            resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
        if file_mb is not None:
            size = file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def _killed_reason(returncode: int | None, stderr: str) -> str | None:
    if returncode == -signal.SIGXCPU:
        return "cpu"
    lowered = stderr.lower()
    if "out of memory" in lowered or "allocation failed" in lowered:
        return "memory"
    return None


class WasmSandbox(BlockingSandbox):
    """Runs Python in Pyodide (CPython compiled to WebAssembly) inside Deno.

    Isolation comes from two layers: WebAssembly (the code has no system calls, only what
    Pyodide emulates: an in-memory file system, no processes, no sockets) and Deno's
    permissions (the Deno process may read Pyodide's cache folder and nothing else: no
    network, environment, subprocesses, FFI, system information or writes). The code sees
    no host file: the caller's workspace and mounts are copied into the in-memory file
    system and writable ones are synchronised back by the host, confined to each mount.

    Limits: ``wall_seconds`` is each call's soft limit (a ``TimeoutError`` in the code; the
    session survives) and, 2 s later, the hard one (the process is killed); ``cpu_seconds``
    is the session's CPU budget (``RLIMIT_CPU``); ``memory_mb`` caps WebAssembly memory
    (an allocation beyond it is a ``MemoryError``) and the JavaScript heap; output is capped.
    ``max_processes`` has no meaning here (there are no processes).

    Args:
        pyodide_dir: Folder of Pyodide caches (default: ``$MEMFUN_PYODIDE_DIR`` or the user
            data dir); must hold the pinned version, installed by the setup command.
        limits: Default limits of each session and run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    def __init__(
        self,
        *,
        pyodide_dir: str | Path | None = None,
        limits: SandboxLimits | None = None,
        authorize: ToolAuthorizer | None = None,
    ) -> None:
        self._pyodide_dir = pyodide_dir
        self._limits = limits or SandboxLimits()
        self._authorize = authorize
        self._sessions: list[ReplSession] = []

    @property
    def name(self) -> str:
        """``"wasm"``."""
        return "wasm"

    @property
    def isolation(self) -> IsolationLevel:
        """``strong``: no host system calls reach the code, Deno denies every permission."""
        return "strong"

    def _requirements(self) -> tuple[str, PyodideCache]:
        return deno_binary(), locate_pyodide(self._pyodide_dir)

    async def start(self) -> None:
        """Check that Deno and Pyodide are installed (idempotent).

        Raises:
            MissingExtraError: The ``wasm`` extra is not installed.
            BackendUnavailable: Pyodide is not installed (the error names the setup command).
        """
        await asyncio.to_thread(self._requirements)

    async def stop(self) -> None:
        """Close every REPL session this adapter opened (idempotent)."""
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await asyncio.to_thread(session.close)

    # --- REPL sessions ---------------------------------------------------------------------

    def open_repl(
        self,
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WasmReplSession:
        """Start a persistent Python REPL in a fresh Deno process (see :class:`ReplSandbox`).

        Raises:
            ValidationError: The network was asked for, or a mount is invalid.
            MissingExtraError: The ``wasm`` extra is not installed.
            BackendUnavailable: Pyodide is not installed.
        """
        if network is not None and network.allow:
            raise ValidationError(
                "the wasm sandbox has no network access",
                field="network",
                rule="NetworkPolicy(allow=False); use the local sandbox for network access",
            )
        limits = limits or self._limits
        view = files or FileSystemView()
        deno, cache = self._requirements()
        memory_mb = limits.memory_mb or 2048
        sync = MountSync(view, max_total_mb=max(1, memory_mb // 2), max_file_mb=limits.max_file_mb)
        argv = self._argv(deno, cache, memory_mb)
        config = {
            "pyodide_module": cache.module.as_uri(),
            "pyodide_dir": str(cache.package_dir) + os.sep,
            "snapshot": str(cache.snapshot),
            "worker_source": str(_WORKER),
            "repl_source": str(_JS_DIR / "repl.py"),
            "max_output_bytes": limits.max_output_bytes,
            "session": {
                "env": dict(env or {}),
                "cwd": WORKSPACE if view.workspace is not None else _HOME,
                "mounts": sync.describe(),
            },
        }
        process = spawn(
            argv,
            preexec=_preexec(limits.cpu_seconds, limits.max_file_mb),
            env={"DENO_DIR": str(cache.root / "deno"), "NO_COLOR": "1",
                 "DENO_NO_UPDATE_CHECK": "1"},
            cwd=str(cache.root),
        )  # fmt: skip
        return self._connect(process, config, limits, sync if sync.mounts else None)

    def _argv(self, deno: str, cache: PyodideCache, memory_mb: int) -> list[str]:
        pages = min(_MAX_WASM_PAGES, memory_mb * _WASM_PAGES_PER_MB)
        heap = max(_MIN_JS_HEAP_MB, memory_mb // 2)
        readable = ",".join(
            str(p)
            for p in (
                cache.package_dir,
                cache.snapshot,
                _JS_DIR / "worker.mjs",
                _JS_DIR / "repl.py",
                _WORKER,
            )
        )
        return [
            deno, "run", "--no-config", "--no-lock", "--no-remote", "--no-npm", "--no-prompt",
            f"--allow-read={readable}", *_DENY,
            f"--v8-flags=--wasm-max-mem-pages={pages},--max-old-space-size={heap}",
            str(_JS_DIR / "host.mjs"),
        ]  # fmt: skip

    def _connect(
        self,
        process: subprocess.Popen[bytes],
        config: dict[str, Any],
        limits: SandboxLimits,
        sync: MountSync | None,
    ) -> WasmReplSession:
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        errors = CappedReader(process.stderr, 65536)
        ended: list[str | None] = []

        def terminate() -> str | None:
            if ended:
                return ended[0]
            kill_tree(process)
            text, _ = errors.result(1.0)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()
            if text.strip():
                _log.warning("the wasm sandbox (Deno) wrote to stderr: %s", text[-2000:])
            ended.append(_killed_reason(process.returncode, text))
            return ended[0]

        try:
            process.stdin.write(json.dumps(config).encode() + b"\n")
            process.stdin.flush()
            inner = StreamReplSession(
                backend="wasm",
                isolation=self.isolation,
                stdin=process.stdin,
                stdout=process.stdout,
                default_timeout=limits.wall_seconds,
                terminate=terminate,
                authorize=self._authorizer(),
            )
        except BaseException:
            terminate()
            raise
        session = WasmReplSession(inner, sync)
        self._sessions.append(session)
        return session

    def _authorizer(self) -> ToolAuthorizer | None:
        authorize = self._authorize
        if authorize is None:
            return None

        def check(name: str, call: Mapping[str, Any]) -> None:
            # The mount sync is the adapter's own channel, confined to the mounts host-side.
            if name != SYNC_TOOL:
                authorize(name, call)

        return check

    # --- one-shot runs ---------------------------------------------------------------------

    def run_code_sync(
        self,
        code: str,
        *,
        language: str = "python",
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> SandboxResult:
        """Blocking form of :meth:`run_code` (a fresh session per run)."""
        if language != "python":
            raise ValidationError(
                f"unsupported language {language!r}", field="language", rule="python"
            )
        limits = limits or self._limits
        session = self.open_repl(limits=limits, files=files, network=network, env=env)
        driver = (
            "import _memfun_program\n"
            f"_memfun_program.run({code!r}, {stdin or ''!r}, {limits.max_output_bytes})"
        )
        try:
            outcome = session.execute(driver)
        except SandboxTerminated as exc:
            reason = exc.reason if exc.reason in ("wall", "cpu", "memory") else None
            return SandboxResult(exit_code=_KILLED, stdout="", stderr=str(exc),
                                 timed_out=exc.reason == "wall", killed_reason=reason)  # fmt: skip
        finally:
            session.close()
            with contextlib.suppress(ValueError):
                self._sessions.remove(session)
        return _result(outcome)

    def run_command_sync(
        self,
        argv: Sequence[str],
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        cwd: str | None = None,
    ) -> SandboxResult:
        """Not available: WebAssembly has no processes to run commands in.

        Raises:
            ValidationError: Always.
        """
        del argv, limits, files, network, env, stdin, cwd
        raise ValidationError(
            "the wasm sandbox cannot run commands (WebAssembly has no processes)",
            field="argv",
            rule="use run_code(language='python') here, or the local sandbox for commands",
        )


def _result(outcome: ReplOutcome) -> SandboxResult:
    if outcome.kind == "final" and isinstance(outcome.value, dict):
        value: dict[str, Any] = outcome.value  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
        timed_out = bool(value.get("timed_out"))
        return SandboxResult(
            exit_code=int(value.get("exit_code", 1)),  # pyright: ignore[reportArgumentType]
            stdout=str(value.get("stdout", "")),
            stderr=str(value.get("stderr", "")),
            stdout_truncated=bool(value.get("stdout_truncated")),
            stderr_truncated=bool(value.get("stderr_truncated")),
            duration=outcome.duration,
            timed_out=timed_out,
            killed_reason="wall" if timed_out else None,
        )
    return SandboxResult(
        exit_code=1,
        stdout=outcome.output,
        stderr=outcome.error or "",
        stdout_truncated=outcome.output_truncated,
        duration=outcome.duration,
    )
