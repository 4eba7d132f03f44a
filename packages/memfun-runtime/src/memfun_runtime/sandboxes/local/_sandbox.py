"""The ``local`` sandbox: bubblewrap namespaces, else Landlock + seccomp, else refuse."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Mapping, Sequence
from typing import Literal

from memfun_core.errors import BackendUnavailable, ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    IsolationLevel,
    NetworkPolicy,
    ReplSession,
    SandboxLimits,
    SandboxResult,
)
from memfun_runtime.sandboxes._blocking import BlockingSandbox, for_language
from memfun_runtime.sandboxes._output import CappedReader
from memfun_runtime.sandboxes._process import kill_tree, run_to_end, signal_of, spawn
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes.local._plan import Mode, RunPlan, default_python, plan_run
from memfun_runtime.sandboxes.local._probe import LocalCapabilities, namespace_fix_hint, probe

__all__ = ["LocalSandbox"]

_log = logging.getLogger("memfun.sandbox")
_LANGUAGES = {"python": ".py", "bash": ".sh", "sh": ".sh"}
_UNSAFE_WARNING = (
    "UNSAFE: sandbox.unsafe_host is set, so model-written code runs ON THIS HOST with your "
    "user's full access to files, network and processes (only rlimits apply)"
)


class LocalSandbox(BlockingSandbox):
    """Runs code and commands on this machine under the strongest isolation it offers.

    ``strong``: bubblewrap with new user (uid ``nobody``, no capabilities), pid, net, ipc,
    uts, cgroup and mount namespaces; only /usr, a few /etc files, the interpreter and the
    workspace are bound in. ``weak`` (only where namespaces cannot be made, or when asked
    with ``mode="landlock"``): Landlock file-system/TCP/signal rules, a seccomp filter and
    rlimits. ``none``: only with ``unsafe_host=True``, with a warning on every run. Both
    sandboxed modes start the process with an empty environment plus what ``env`` gives,
    set rlimits (CPU, address space, file size, no core files), put it into fresh cgroup
    v1 memory and pids groups where the hierarchy is writable, cap its output and kill its
    whole process tree at the wall-clock limit.

    Args:
        require: ``"strong"`` refuses to run without namespaces; ``"any"`` accepts the
            weaker mode (logging why, and how to get the strong one).
        unsafe_host: Run on the host without any sandbox (explicit opt-in).
        mode: ``"auto"`` picks the strongest available; ``"landlock"`` forces the weaker
            mode (for testing it where namespaces work).
        python: Interpreter used inside (default ``/usr/bin/python3``).
        bwrap: Path of ``bwrap`` (default: found on ``PATH``).
        limits: Default limits of each run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    def __init__(
        self,
        *,
        require: Literal["strong", "any"] = "any",
        unsafe_host: bool = False,
        mode: Literal["auto", "landlock"] = "auto",
        python: str | None = None,
        bwrap: str | None = None,
        limits: SandboxLimits | None = None,
        authorize: ToolAuthorizer | None = None,
    ) -> None:
        if require not in ("strong", "any"):
            raise ValidationError(
                f"unknown value {require!r}", field="require", rule="'strong' or 'any'"
            )
        self._require = require
        self._unsafe_host = unsafe_host
        self._forced = mode
        self._python = python or default_python()
        self._bwrap = bwrap
        self._limits = limits or SandboxLimits()
        self._authorize = authorize
        self._mode: Mode | None = None
        self._sessions: list[ReplSession] = []

    # --- identity and isolation ----------------------------------------------------------

    @property
    def name(self) -> str:
        """``"local"``."""
        return "local"

    @property
    def isolation(self) -> IsolationLevel:
        """``strong`` (namespaces), ``weak`` (Landlock + seccomp) or ``none`` (unsafe_host)."""
        mode = self._resolve()
        return {"namespaces": "strong", "landlock": "weak", "host": "none"}[mode]  # type: ignore[return-value]

    @property
    def mode(self) -> Mode:
        """The mechanism in use: ``"namespaces"``, ``"landlock"`` or ``"host"``."""
        return self._resolve()

    def _resolve(self) -> Mode:
        if self._mode is None:
            self._mode = self._choose(probe(self._bwrap))
        return self._mode

    def _choose(self, caps: LocalCapabilities) -> Mode:
        if self._unsafe_host:
            return "host"
        if caps.namespaces and self._forced == "auto":
            return "namespaces"
        why = (
            "the weaker mode was asked for (mode='landlock')"
            if caps.namespaces
            else f"namespaces are unavailable: {caps.namespace_error}"
        )
        if self._require == "strong":
            raise BackendUnavailable(
                f"the local sandbox cannot give strong isolation: {why}",
                backend="local",
                target=caps.bwrap or "bwrap",
                hint=namespace_fix_hint(caps.namespace_error)
                + "; or set sandbox.require = 'any' to accept Landlock + seccomp",
            )
        fix = "use mode='auto'" if caps.namespaces else namespace_fix_hint(caps.namespace_error)
        if caps.landlock_abi >= 1 and caps.seccomp:
            _log.warning(
                "local sandbox: WEAK isolation (Landlock ABI %d + seccomp + rlimits, no "
                "namespaces) because %s. To get strong isolation: %s",
                caps.landlock_abi,
                why,
                fix,
            )
            return "landlock"
        raise BackendUnavailable(
            f"no isolation is possible on this machine: {why}, and Landlock "
            f"(ABI {caps.landlock_abi}) or seccomp (supported: {caps.seccomp}) is unavailable",
            backend="local",
            target=caps.bwrap or "bwrap",
            hint=namespace_fix_hint(caps.namespace_error)
            + "; or use the wasm sandbox; or (dangerous) set sandbox.unsafe_host = true",
        )

    def _warn_if_unsafe(self) -> None:
        if self._resolve() == "host":
            _log.warning(_UNSAFE_WARNING)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Probe the machine and choose the mode (idempotent; raises if none is allowed)."""
        await asyncio.to_thread(self._resolve)

    async def stop(self) -> None:
        """Close every REPL session this adapter opened (idempotent)."""
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await asyncio.to_thread(session.close)

    # --- one-shot runs ---------------------------------------------------------------------

    def _plan(
        self,
        limits: SandboxLimits | None,
        files: FileSystemView | None,
        network: NetworkPolicy | None,
        env: Mapping[str, str] | None,
    ) -> RunPlan:
        mode = self._resolve()
        return plan_run(
            mode=mode,
            bwrap=probe(self._bwrap).bwrap,
            python=self._python,
            limits=limits or self._limits,
            files=files or FileSystemView(),
            network=network or NetworkPolicy(),
            env=env,
        )

    def _spawn_env(self, plan: RunPlan) -> dict[str, str]:
        if plan.mode == "host":
            return {**plan.env, "HOME": plan.tmp, "TMPDIR": plan.tmp}
        return {}

    def _run_plan(
        self, plan: RunPlan, command: Sequence[str], stdin: str | None, cwd: str | None
    ) -> SandboxResult:
        self._warn_if_unsafe()
        argv = plan.argv(command, cwd)
        process = spawn(argv, preexec=plan.preexec(), env=self._spawn_env(plan),
                        cwd=plan.workspace if plan.mode == "host" else None)  # fmt: skip
        cgroup = plan.cgroup
        outcome = run_to_end(
            process,
            stdin=None if stdin is None else stdin.encode(),
            wall_seconds=plan.limits.wall_seconds,
            max_output_bytes=plan.limits.max_output_bytes,
            kill_extra=None if cgroup is None else cgroup.kill_all,
        )
        oom = cgroup is not None and cgroup.oom_killed()
        code = outcome.returncode
        sig = signal_of(code, shell_style=plan.mode == "namespaces")
        if sig is not None and plan.mode == "namespaces":
            code = -sig
        return SandboxResult(
            exit_code=code,
            stdout=outcome.stdout,
            stderr=outcome.stderr,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            duration=outcome.duration,
            timed_out=outcome.timed_out,
            killed_reason=_killed_reason(outcome.timed_out, oom, sig),
        )

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
        """Blocking form of :meth:`run_command`."""
        if not argv:
            raise ValidationError("empty command", field="argv", rule="at least one item")
        plan = self._plan(limits, files, network, env)
        try:
            return self._run_plan(plan, argv, stdin, cwd)
        finally:
            plan.cleanup()

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
        """Blocking form of :meth:`run_code`."""
        suffix = for_language(_LANGUAGES, language)
        plan = self._plan(limits, files, network, env)
        try:
            path = plan.code_file(code, suffix)
            runner = self._python if language == "python" else f"/bin/{language}"
            return self._run_plan(plan, [runner, path], stdin, None)
        finally:
            plan.cleanup()

    # --- REPL sessions ---------------------------------------------------------------------

    def open_repl(
        self,
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ReplSession:
        """Start a persistent Python REPL in a fresh sandbox (see :class:`ReplSandbox`)."""
        plan = self._plan(limits, files, network, env)
        try:
            self._warn_if_unsafe()
            config = json.dumps({"max_output_bytes": plan.limits.max_output_bytes})
            command = [self._python, "-I", plan.worker_path("repl_worker.py"), config]
            process = spawn(plan.argv(command, None), preexec=plan.preexec(),
                            env=self._spawn_env(plan),
                            cwd=plan.workspace if plan.mode == "host" else None)  # fmt: skip
        except BaseException:
            plan.cleanup()
            raise
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        errors = CappedReader(process.stderr, 65536)

        def terminate() -> str | None:
            cgroup = plan.cgroup
            kill_tree(process, None if cgroup is None else cgroup.kill_all)
            oom = cgroup is not None and cgroup.oom_killed()
            sig = signal_of(process.returncode, shell_style=plan.mode == "namespaces")
            plan.cleanup()
            text, _ = errors.result(1.0)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()
            if text.strip():
                _log.warning("sandboxed REPL wrote to stderr: %s", text[-2000:])
            return _killed_reason(False, oom, sig)

        session = StreamReplSession(
            backend="local",
            isolation=self.isolation,
            stdin=process.stdin,
            stdout=process.stdout,
            default_timeout=plan.limits.wall_seconds,
            terminate=terminate,
            authorize=self._authorize,
            before_run=self._warn_if_unsafe,
        )
        self._sessions.append(session)
        return session


def _killed_reason(timed_out: bool, oom: bool, sig: int | None) -> str | None:
    if timed_out:
        return "wall"
    if oom:
        return "memory"
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig == signal.SIGXFSZ:
        return "file_size"
    return None
