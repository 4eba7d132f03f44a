"""What the sandbox adapters share: argument checks, defaults, sessions and the async half.

Local, Docker, Modal and wasm sandboxes do their work in blocking calls (``*_sync``); the
base class checks and completes the arguments once, keeps the REPL sessions an adapter
opened (closed by :meth:`~BlockingSandbox.stop`) and gives the ``async`` methods of
:class:`~memfun_runtime.protocols.SandboxAdapter`: the blocking ones, run in a thread.
Each adapter keeps only what its isolation really does differently.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CoroutineType
from typing import IO, Any, ClassVar, ParamSpec, TypeVar

from memfun_core.errors import ValidationError
from memfun_runtime.protocols import (
    FileSystemView,
    IsolationLevel,
    NetworkPolicy,
    ReplSandbox,
    ReplSession,
    SandboxLimits,
    SandboxResult,
)
from memfun_runtime.sandboxes._repl_client import StreamReplSession, ToolAuthorizer

__all__ = [
    "BlockingSandbox",
    "Run",
    "for_language",
    "positive_cpus",
    "refuse_host_list",
    "workspace_folder",
]

T = TypeVar("T")
P = ParamSpec("P")

_LANGUAGES = {"python": ".py", "bash": ".sh", "sh": ".sh"}


def for_language(table: Mapping[str, T], language: str) -> T:
    """Look up ``language`` in a sandbox's table of supported languages.

    Raises:
        ValidationError: The language is not in ``table``; the rule lists those that are.
    """
    try:
        return table[language]
    except KeyError:
        raise ValidationError(
            f"unsupported language {language!r}", field="language", rule=", ".join(sorted(table))
        ) from None


def _in_thread(method: Callable[P, T]) -> Callable[P, CoroutineType[Any, Any, T]]:
    """The ``async`` form of a blocking method: the method, run in a worker thread."""

    async def in_thread(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, *args, **kwargs)

    return in_thread


def refuse_host_list(network: NetworkPolicy, sandbox: str) -> None:
    """Refuse a network policy naming hosts: the sandbox allows all or no network.

    Raises:
        ValidationError: ``network`` allows only some hosts.
    """
    if network.allow and network.allowed_hosts:
        raise ValidationError(
            f"the {sandbox} sandbox cannot limit the network to a host list",
            field="network.allowed_hosts",
            rule=f"{sandbox} sandboxes allow all or no network",
            hint="allow the network without a host list, or keep it off (the default)",
        )


def positive_cpus(cpus: float) -> float:
    """``cpus`` when it is a positive CPU share.

    Raises:
        ValidationError: ``cpus`` is zero or negative.
    """
    if cpus <= 0:
        raise ValidationError(f"cpus must be positive, got {cpus}", field="cpus", rule="> 0")
    return cpus


def workspace_folder(files: FileSystemView, temp_dirs: list[str]) -> str | None:
    """The host folder a run gets as its workspace: the caller's, or a scratch copy of it.

    A scratch copy's folder is appended to ``temp_dirs`` (the caller removes it).

    Raises:
        ValidationError: The workspace is not an existing folder.
    """
    if files.workspace is None:
        return None
    source = Path(files.workspace).resolve()
    if not source.is_dir():
        raise ValidationError(
            f"workspace {files.workspace!r} is not a folder",
            field="files.workspace",
            rule="an existing folder",
        )
    if not files.scratch_copy:
        return str(source)
    scratch = tempfile.mkdtemp(prefix="memfun-scratch-")
    temp_dirs.append(scratch)
    shutil.copytree(source, scratch, symlinks=True, dirs_exist_ok=True)
    return scratch


@dataclass(frozen=True, slots=True)
class Run:
    """The arguments of one run or session, with the adapter's defaults filled in."""

    limits: SandboxLimits
    files: FileSystemView
    network: NetworkPolicy
    env: Mapping[str, str] | None = None
    stdin: str | None = None


class BlockingSandbox(ReplSandbox):
    """A :class:`ReplSandbox` whose runs are blocking calls made in a thread when awaited.

    An adapter gives :attr:`backend`, :meth:`_command`, :meth:`_code`, :meth:`_open` and
    ``start`` (and :attr:`isolation` when it is not ``strong``).

    Args:
        limits: Default limits of each run.
        authorize: Checks every host-tool call made from inside a REPL session.
    """

    backend: ClassVar[str]
    """The adapter's :attr:`name`."""
    languages: ClassVar[Mapping[str, str]] = _LANGUAGES
    """Languages ``run_code`` takes, with the suffix of their program file."""

    def __init__(self, limits: SandboxLimits | None, authorize: ToolAuthorizer | None) -> None:
        self._limits = limits or SandboxLimits()
        self._authorize = authorize
        self._sessions: list[ReplSession] = []

    def _defaults(
        self,
        limits: SandboxLimits | None,
        files: FileSystemView | None,
        network: NetworkPolicy | None,
        env: Mapping[str, str] | None,
        stdin: str | None = None,
    ) -> Run:
        """The arguments of a call with this adapter's defaults filled in."""
        return Run(limits or self._limits, files or FileSystemView(), network or NetworkPolicy(),
                   env, stdin)  # fmt: skip

    @abstractmethod
    def _command(self, argv: Sequence[str], run: Run, cwd: str | None) -> SandboxResult:
        """Run a non-empty command."""

    @abstractmethod
    def _code(self, code: str, language: str, suffix: str, run: Run) -> SandboxResult:
        """Run a program in one of :attr:`languages` (``suffix``: its file's)."""

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
        return self._command(argv, self._defaults(limits, files, network, env, stdin), cwd)

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
        suffix = for_language(self.languages, language)
        return self._code(
            code, language, suffix, self._defaults(limits, files, network, env, stdin)
        )

    run_command = _in_thread(run_command_sync)
    run_code = _in_thread(run_code_sync)

    @property
    def name(self) -> str:
        """The adapter's name (``"local"``, ``"wasm"``, ``"docker"``, ``"modal"``)."""
        return self.backend

    @property
    def isolation(self) -> IsolationLevel:
        """``strong`` unless the adapter says otherwise (its class says how it isolates)."""
        return "strong"

    def open_repl(
        self,
        *,
        limits: SandboxLimits | None = None,
        files: FileSystemView | None = None,
        network: NetworkPolicy | None = None,
        env: Mapping[str, str] | None = None,
    ) -> StreamReplSession:
        """Start a persistent Python REPL in a fresh sandbox (see :class:`ReplSandbox`)."""
        return self._open(self._defaults(limits, files, network, env))

    @abstractmethod
    def _open(self, run: Run) -> StreamReplSession:
        """Start a REPL worker and return its session (made by :meth:`_session`)."""

    async def stop(self) -> None:
        """Close every REPL session this adapter opened (idempotent)."""
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            await asyncio.to_thread(session.close)

    def _session(
        self,
        *,
        stdin: IO[bytes],
        stdout: IO[bytes],
        limits: SandboxLimits,
        terminate: Callable[[], str | None],
        isolation: IsolationLevel = "strong",
        before_run: Callable[[], None] | None = None,
        own_tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> StreamReplSession:
        """A REPL session over a worker's streams, closed by :meth:`stop` unless closed before."""
        session = StreamReplSession(
            backend=self.name, isolation=isolation, stdin=stdin, stdout=stdout,
            default_timeout=limits.wall_seconds, terminate=terminate, authorize=self._authorize,
            before_run=before_run, own_tools=own_tools,
        )  # fmt: skip
        self._sessions = [s for s in self._sessions if s.alive]
        self._sessions.append(session)
        return session
