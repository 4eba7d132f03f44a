"""The ``wasm`` sandbox: a persistent Python REPL in Pyodide (WebAssembly) on Deno."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import ReplOutcome, SandboxLimits, SandboxResult
from memfun_runtime.sandboxes._blocking import BlockingSandbox, Run
from memfun_runtime.sandboxes._output import CappedReader
from memfun_runtime.sandboxes._process import end_process, make_preexec, rlimits, spawn
from memfun_runtime.sandboxes._repl_client import (
    SandboxTerminated,
    StreamReplSession,
    ToolAuthorizer,
)
from memfun_runtime.sandboxes._worker import worker_script
from memfun_runtime.sandboxes.wasm._cache import PyodideCache, deno_binary, locate_pyodide
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


WasmReplSession = StreamReplSession
"""The session type of the wasm sandbox (mounts are synchronised through a tool of its own)."""


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
    session survives) and, 5 s later, the hard one (the process is killed); ``cpu_seconds``
    is the session's CPU budget (``RLIMIT_CPU``); ``memory_mb`` caps WebAssembly memory
    (an allocation beyond it is a ``MemoryError``) and the JavaScript heap; output is capped.
    ``max_processes`` has no meaning here (there are no processes).

    Args:
        pyodide_dir: Folder of Pyodide caches (default: ``$MEMFUN_PYODIDE_DIR`` or the user
            data dir); must hold the pinned version, installed by the setup command.
        limits: Default limits of each session and run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    backend = "wasm"

    languages: ClassVar[Mapping[str, str]] = {"python": ".py"}

    def __init__(
        self,
        *,
        pyodide_dir: str | Path | None = None,
        limits: SandboxLimits | None = None,
        authorize: ToolAuthorizer | None = None,
    ) -> None:
        super().__init__(limits, authorize)
        self._pyodide_dir = pyodide_dir

    def _requirements(self) -> tuple[str, PyodideCache]:
        return deno_binary(), locate_pyodide(self._pyodide_dir)

    async def start(self) -> None:
        """Check that Deno and Pyodide are installed (idempotent).

        Raises:
            MissingExtraError: The ``wasm`` extra is not installed.
            BackendUnavailable: Pyodide is not installed (the error names the setup command).
        """
        await asyncio.to_thread(self._requirements)

    # --- REPL sessions ---------------------------------------------------------------------

    def _open(self, run: Run) -> StreamReplSession:
        if run.network.allow:
            raise ValidationError(
                "the wasm sandbox has no network access",
                field="network",
                rule="NetworkPolicy(allow=False); use the local sandbox for network access",
            )
        limits, view = run.limits, run.files
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
                "env": dict(run.env or {}),
                "cwd": WORKSPACE if view.workspace is not None else _HOME,
                "mounts": sync.describe(),
            },
        }
        process = spawn(
            argv,
            preexec=make_preexec(rlimits(limits)),
            env={"DENO_DIR": str(cache.root / "deno"), "NO_COLOR": "1",
                 "DENO_NO_UPDATE_CHECK": "1"},
            cwd=str(cache.root),
        )  # fmt: skip
        return self._connect(process, config, limits, sync if sync.mounts else None)

    def _argv(self, deno: str, cache: PyodideCache, memory_mb: int) -> list[str]:
        pages = min(_MAX_WASM_PAGES, memory_mb * _WASM_PAGES_PER_MB)
        heap = max(_MIN_JS_HEAP_MB, memory_mb // 2)
        files = (
            cache.package_dir,
            cache.snapshot,
            _JS_DIR / "worker.mjs",
            _JS_DIR / "repl.py",
            _WORKER,
        )
        readable = ",".join(str(path) for path in files)
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
            if not ended:
                text = end_process(process, errors, what="the wasm sandbox (Deno)")
                ended.append(_killed_reason(process.returncode, text))
            return ended[0]

        try:
            process.stdin.write(json.dumps(config).encode() + b"\n")
            process.stdin.flush()
            return self._session(
                stdin=process.stdin,
                stdout=process.stdout,
                limits=limits,
                terminate=terminate,
                own_tools={SYNC_TOOL: sync} if sync is not None else None,
            )
        except BaseException:
            terminate()
            raise

    # --- one-shot runs ---------------------------------------------------------------------

    def _code(self, code: str, language: str, suffix: str, run: Run) -> SandboxResult:
        del language, suffix
        session = self._open(run)
        driver = (
            "import _memfun_program\n"
            f"_memfun_program.run({code!r}, {run.stdin or ''!r}, {run.limits.max_output_bytes})"
        )
        try:
            outcome = session.execute(driver)
        except SandboxTerminated as exc:
            reason = exc.reason if exc.reason in ("wall", "cpu", "memory") else None
            return SandboxResult(exit_code=_KILLED, stdout="", stderr=str(exc),
                                 timed_out=exc.reason == "wall", killed_reason=reason)  # fmt: skip
        finally:
            session.close()
        return _result(outcome)

    def _command(self, argv: Sequence[str], run: Run, cwd: str | None) -> SandboxResult:
        """Not available: WebAssembly has no processes to run commands in."""
        del argv, run, cwd
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
