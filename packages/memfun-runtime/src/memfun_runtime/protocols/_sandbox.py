"""The sandbox contract: run untrusted code or commands under limits (implemented elsewhere)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = [
    "FileSystemView",
    "IsolationLevel",
    "Mount",
    "NetworkPolicy",
    "ReplOutcome",
    "ReplOutcomeKind",
    "ReplSandbox",
    "ReplSession",
    "SandboxAdapter",
    "SandboxLimits",
    "SandboxResult",
]

IsolationLevel = Literal["strong", "weak", "none"]
"""``strong``: namespaces, a VM or WebAssembly; ``weak``: process-level restrictions only
(Landlock, seccomp, rlimits); ``none``: runs on the host (explicit opt-in only)."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of one run; ``None`` means the adapter's default.

    Attributes:
        cpu_seconds: CPU time before the process is killed.
        memory_mb: Address space / memory limit.
        wall_seconds: Wall-clock time before the whole process tree is killed.
        max_output_bytes: Bytes kept of stdout and of stderr each; the rest is dropped and
            the result's ``*_truncated`` flag set.
        max_processes: Processes/threads the run may have at once.
        max_file_mb: Largest file the run may write (``RLIMIT_FSIZE``).
    """

    cpu_seconds: float | None = 120.0
    memory_mb: int | None = 2048
    wall_seconds: float | None = 120.0
    max_output_bytes: int = 1_000_000
    max_processes: int | None = 64
    max_file_mb: int | None = 512


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path made visible inside the sandbox."""

    host_path: str
    sandbox_path: str
    writable: bool = False


@dataclass(frozen=True, slots=True)
class FileSystemView:
    """What of the host file system the run sees.

    Attributes:
        workspace: Host folder mounted as the working directory, or ``None`` for none.
        workspace_writable: Whether the run may write to it.
        scratch_copy: Give the run a disposable copy of the workspace instead of the folder.
        mounts: Further host paths to bind in.
    """

    workspace: str | None = None
    workspace_writable: bool = True
    scratch_copy: bool = False
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """Network access of a run: none by default, or only to the listed hosts."""

    allow: bool = False
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """What a run produced.

    Attributes:
        exit_code: The process's exit status (negative: killed by that signal).
        stdout: Captured standard output (decoded UTF-8, errors replaced), capped.
        stderr: Captured standard error, capped.
        stdout_truncated: Output beyond ``max_output_bytes`` was dropped.
        stderr_truncated: Likewise for stderr.
        duration: Wall-clock seconds of the run.
        timed_out: The wall-clock limit killed it.
        killed_reason: Which limit killed it (``"memory"``, ``"cpu"``, ``"wall"``), if any.
    """

    exit_code: int
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration: float = 0.0
    timed_out: bool = False
    killed_reason: str | None = None


@runtime_checkable
class SandboxAdapter(Protocol):
    """Runs code or commands in isolation, with limits, a file-system view and a network policy.

    Guarantees an implementation must give: nothing runs on the host outside the declared
    isolation; every run ends within ``wall_seconds`` plus a small grace (the whole process
    tree is killed, no process survives the call); output is capped, never unbounded; the
    host environment (API keys) is not visible unless passed in ``env``; limits that the
    adapter cannot enforce make it report a weaker :attr:`isolation`, never a silent pass.
    A limit being hit is a normal result (``timed_out``, ``killed_reason``), not an
    exception; an adapter that cannot run at all raises
    :class:`~memfun_core.errors.BackendUnavailable` saying how to fix it.
    """

    @property
    def name(self) -> str:
        """Adapter name (``"local"``, ``"wasm"``, ``"docker"``, ``"modal"``)."""
        ...

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation actually achieved on this machine."""
        ...

    async def start(self) -> None:
        """Prepare the sandbox (idempotent)."""
        ...

    async def stop(self) -> None:
        """Kill everything still running and release resources (idempotent)."""
        ...

    async def run_command(
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
        """Run one command (no shell) inside the sandbox and return its result."""
        ...

    async def run_code(
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
        """Run a program given as source text inside the sandbox and return its result.

        Raises:
            ValidationError: ``language`` is not supported by this adapter.
        """
        ...


ReplOutcomeKind = Literal["result", "final", "error", "syntax_error"]
"""``result``: the code ran; ``final``: it called ``SUBMIT``; ``error``: it raised (the
session is intact); ``syntax_error``: it did not parse."""


@dataclass(frozen=True, slots=True)
class ReplOutcome:
    """What one :meth:`ReplSession.execute` call produced.

    Attributes:
        kind: How the code ended.
        output: Captured stdout and stderr of the call, followed by the ``repr`` of the
            last expression's value when it is not ``None`` (capped).
        output_truncated: Output beyond the cap was dropped.
        value: For ``final``, the submitted fields (a dict of JSON values); else ``None``.
        error: For ``error`` and ``syntax_error``, the error and the user-code traceback.
        duration: Wall-clock seconds of the call.
    """

    kind: ReplOutcomeKind
    output: str = ""
    output_truncated: bool = False
    value: JSONValue = None
    error: str | None = None
    duration: float = 0.0


@runtime_checkable
class ReplSession(Protocol):
    """A persistent Python REPL inside a sandbox: state survives across :meth:`execute` calls.

    Host tools are reached from inside by an RPC call back to the host, where they run (and
    where permissions are checked); arguments and results cross as JSON. An exception in
    the code is a normal :class:`ReplOutcome` (``kind="error"``); if the sandboxed process
    dies or a call exceeds its hard time limit, the session is over: the call raises
    :class:`~memfun_core.errors.BackendError` (the adapter's ``SandboxTerminated``) and
    every later call raises it too.
    """

    @property
    def isolation(self) -> IsolationLevel:
        """The isolation the session runs under."""
        ...

    @property
    def alive(self) -> bool:
        """Whether the session can still execute code."""
        ...

    def execute(
        self,
        code: str,
        variables: Mapping[str, JSONValue] | None = None,
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        output_fields: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> ReplOutcome:
        """Run ``code`` in the session (blocking; tools run in the calling thread).

        Args:
            code: Python source.
            variables: Names bound before the code runs; a value identical to the one sent
                on an earlier call is not sent again.
            tools: Host callables the code may call by name (JSON arguments and result).
            output_fields: Field names ``SUBMIT`` takes; ``None`` means ``SUBMIT(value)``.
            timeout: Wall-clock seconds for this call (default: the session's limit).
        """
        ...

    def close(self) -> None:
        """Kill the session's processes and release its resources (idempotent)."""
        ...


@runtime_checkable
class ReplSandbox(SandboxAdapter, Protocol):
    """A sandbox adapter that can also host persistent REPL sessions."""

    def open_repl(
        self,
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ReplSession:
        """Start a persistent Python REPL in a fresh sandbox (blocking until it is ready).

        ``limits.wall_seconds`` is the default hard limit of each call and ``cpu_seconds``
        the CPU budget of the whole session.
        """
        ...
