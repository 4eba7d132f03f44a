"""The ``local`` sandbox: bubblewrap namespaces, else Landlock + seccomp, else refuse."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Literal

from memfun_core.errors import BackendUnavailable, ValidationError
from memfun_runtime.protocols import IsolationLevel, SandboxLimits, SandboxResult
from memfun_runtime.sandboxes._blocking import BlockingSandbox, Run
from memfun_runtime.sandboxes._output import CappedReader
from memfun_runtime.sandboxes._process import (
    end_process,
    killed_reason,
    run_to_end,
    sandbox_result,
    signal_of,
    spawn,
)
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer
from memfun_runtime.sandboxes._worker.weak_launcher import unix_socket_filter
from memfun_runtime.sandboxes.local._plan import Mode, RunPlan, default_python, plan_run
from memfun_runtime.sandboxes.local._probe import LocalCapabilities, namespace_fix_hint, probe

__all__ = ["LocalSandbox"]

_log = logging.getLogger("memfun.sandbox")
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

    backend = "local"

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
        super().__init__(limits, authorize)
        self._require = require
        self._unsafe_host = unsafe_host
        self._forced = mode
        self._python = python or default_python()
        self._bwrap = bwrap
        self._mode: Mode | None = None

    # --- identity and isolation ----------------------------------------------------------

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

    # --- one-shot runs ---------------------------------------------------------------------

    def _plan(self, run: Run) -> RunPlan:
        return plan_run(
            mode=self._resolve(),
            bwrap=probe(self._bwrap).bwrap,
            python=self._python,
            limits=run.limits,
            files=run.files,
            network=run.network,
            env=run.env,
        )

    def _spawn(
        self, plan: RunPlan, command: Sequence[str], cwd: str | None
    ) -> subprocess.Popen[bytes]:
        self._warn_if_unsafe()
        host = plan.mode == "host"
        env = {**plan.env, "HOME": plan.tmp, "TMPDIR": plan.tmp} if host else {}
        argv = plan.argv(command, cwd)
        if plan.mode != "namespaces":
            return spawn(argv, preexec=plan.preexec(), env=env,
                         cwd=plan.workspace if host else None)  # fmt: skip
        # Bubblewrap loads the seccomp program from a pipe: no AF_UNIX socket inside.
        program, sink = os.pipe()
        try:
            try:
                os.write(sink, unix_socket_filter())  # a few hundred bytes: fits the pipe
            finally:
                os.close(sink)
            argv[1:1] = ["--seccomp", str(program)]
            return spawn(argv, preexec=plan.preexec(), env=env, pass_fds=(program,))
        finally:
            os.close(program)

    def _run(
        self, run: Run, command: Callable[[RunPlan], Sequence[str]], cwd: str | None
    ) -> SandboxResult:
        plan = self._plan(run)
        try:
            process = self._spawn(plan, command(plan), cwd)
            cgroup = plan.cgroup
            outcome = run_to_end(
                process,
                stdin=None if run.stdin is None else run.stdin.encode(),
                wall_seconds=plan.limits.wall_seconds,
                max_output_bytes=plan.limits.max_output_bytes,
                kill_extra=None if cgroup is None else cgroup.kill_all,
            )
            oom = cgroup is not None and cgroup.oom_killed()
            return sandbox_result(outcome, shell_style=plan.mode == "namespaces", oom=oom)
        finally:
            plan.cleanup()

    def _command(self, argv: Sequence[str], run: Run, cwd: str | None) -> SandboxResult:
        return self._run(run, lambda _plan: argv, cwd)

    def _code(self, code: str, language: str, suffix: str, run: Run) -> SandboxResult:
        runner = self._python if language == "python" else f"/bin/{language}"
        return self._run(run, lambda plan: [runner, plan.code_file(code, suffix)], None)

    # --- REPL sessions ---------------------------------------------------------------------

    def _open(self, run: Run) -> StreamReplSession:
        plan = self._plan(run)
        try:
            config = json.dumps({"max_output_bytes": plan.limits.max_output_bytes})
            command = [self._python, "-I", plan.worker_path("repl_worker.py"), config]
            process = self._spawn(plan, command, None)
        except BaseException:
            plan.cleanup()
            raise
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        errors = CappedReader(process.stderr, 65536)

        def terminate() -> str | None:
            cgroup = plan.cgroup
            kill_extra = None if cgroup is None else cgroup.kill_all
            end_process(process, errors, what="sandboxed REPL", kill_extra=kill_extra)
            oom = cgroup is not None and cgroup.oom_killed()
            sig = signal_of(process.returncode, shell_style=plan.mode == "namespaces")
            plan.cleanup()
            return killed_reason(False, oom, sig)

        return self._session(stdin=process.stdin, stdout=process.stdout, limits=plan.limits,
                             terminate=terminate, isolation=self.isolation,
                             before_run=self._warn_if_unsafe)  # fmt: skip
